//! `bookstream stream`'s paced mode (the old streamer's job): started, an element refused or
//! left unconfirmed, finished. The backfill's own events are in `backfill.rs`.

use std::fmt::Display;

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    StreamingStarted::NAME,
    ElementRefused::NAME,
    ElementUnconfirmed::NAME,
    StreamingFinished::NAME,
];

const TARGET: &str = "bookstream::commands::stream";

event! {
    /// The input was read (and checked); sending begins.
    pub(crate) struct StreamingStarted<'a> {
        pub source: &'a dyn Display,
        pub to_send: usize,
        pub stream: &'a str,
    }
    const NAME = "streaming_started";
    info!(target: TARGET, %source, to_send, %stream,
        "streaming {to_send} records from {source} to {stream}");
}

/// Which element of the input an event is about, and what became of its put.
pub(crate) struct Element<'a> {
    pub source: &'a dyn Display,
    /// Its place in the input (0-based).
    pub element: usize,
    pub upc: &'a str,
    pub error: &'a dyn Display,
}

event! {
    /// Kinesis can never accept this element (too large, invalid): it is named, the rest go on.
    pub(crate) struct ElementRefused<'a> { pub element: Element<'a> }
    const NAME = "element_refused";
    let Element { source, element, upc, error } = element;
    error!(target: TARGET, element, %upc, %error,
        "element {element} of {source} refused, not sent: {error}");
}

event! {
    /// The element's put and its one resend got no answer: it may be in the stream, and is not
    /// sent a third time.
    pub(crate) struct ElementUnconfirmed<'a> { pub element: Element<'a> }
    const NAME = "element_unconfirmed";
    let Element { source, element, upc, error } = element;
    error!(target: TARGET, element, %upc, %error,
        "element {element} of {source} not sent again: {error}");
}

event! {
    /// Sending ended: every record sent ("done") or a stop ("interrupted").
    pub(crate) struct StreamingFinished<'a> {
        pub interrupted: bool,
        pub sent: u32,
        pub stream: &'a str,
    }
    const NAME = "streaming_finished";
    let how = if interrupted { "interrupted" } else { "done" };
    info!(target: TARGET, sent, %stream, "{how}: {sent} records sent to {stream}");
}
