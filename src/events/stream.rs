//! `bookstream stream`'s paced mode (the old streamer's job): started, an element refused or
//! left unconfirmed, finished. The backfill's own events are in `backfill.rs`.

use std::fmt::Display;

use super::events;

const TARGET: &str = "bookstream::commands::stream";

events! {
    /// The input was read (and checked); sending begins.
    "streaming_started" => StreamingStarted<'a> {
        source: &'a dyn Display,
        to_send: usize,
        stream: &'a str,
    }
    info!(target: TARGET, %source, to_send, %stream,
        "streaming {to_send} records from {source} to {stream}");

    /// Kinesis can never accept this element (too large, invalid): it is named, the rest go on.
    "element_refused" => ElementRefused<'a> { element: Element<'a> }
    let Element { source, element, upc, error } = element;
    error!(target: TARGET, element, %upc, %error,
        "element {element} of {source} refused, not sent: {error}");

    /// The element's put and its one resend got no answer: it may be in the stream, and is not
    /// sent a third time.
    "element_unconfirmed" => ElementUnconfirmed<'a> { element: Element<'a> }
    let Element { source, element, upc, error } = element;
    error!(target: TARGET, element, %upc, %error,
        "element {element} of {source} not sent again: {error}");

    /// Sending ended: every record sent ("done") or a stop ("interrupted").
    "streaming_finished" => StreamingFinished<'a> {
        interrupted: bool,
        sent: u32,
        stream: &'a str,
    }
    let how = if interrupted { "interrupted" } else { "done" };
    info!(target: TARGET, sent, %stream, "{how}: {sent} records sent to {stream}");
}

/// Which element of the input an event is about, and what became of its put.
pub(crate) struct Element<'a> {
    pub source: &'a dyn Display,
    /// Its place in the input (0-based).
    pub element: usize,
    pub upc: &'a str,
    pub error: &'a dyn Display,
}
