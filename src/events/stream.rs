//! `bookstream stream`'s paced mode (the old streamer's job): started, an element refused or
//! left unconfirmed, finished. The backfill's own events are in `backfill.rs`.

use super::Event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[
    StreamingStarted::NAME,
    ElementRefused::NAME,
    ElementUnconfirmed::NAME,
    StreamingFinished::NAME,
];

const TARGET: &str = "bookstream::commands::stream";

/// The input was read (and checked); sending begins.
pub(crate) struct StreamingStarted<'a> {
    pub source: &'a dyn std::fmt::Display,
    pub to_send: usize,
    pub stream: &'a str,
}

impl Event for StreamingStarted<'_> {
    const NAME: &'static str = "streaming_started";

    fn emit(self) {
        let source = self.source;
        tracing::info!(
            target: TARGET, event = Self::NAME, source = %source, to_send = self.to_send,
            stream = %self.stream,
            "streaming {} records from {source} to {}", self.to_send, self.stream
        );
    }
}

/// Kinesis can never accept this element (too large, invalid): it is named, the rest go on.
pub(crate) struct ElementRefused<'a> {
    pub source: &'a dyn std::fmt::Display,
    pub element: usize,
    pub upc: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl Event for ElementRefused<'_> {
    const NAME: &'static str = "element_refused";

    fn emit(self) {
        let (k, source, e) = (self.element, self.source, self.error);
        tracing::error!(
            target: TARGET, event = Self::NAME, element = k, upc = %self.upc, error = %e,
            "element {k} of {source} refused, not sent: {e}"
        );
    }
}

/// The element's put and its one resend got no answer: it may be in the stream, and is not
/// sent a third time.
pub(crate) struct ElementUnconfirmed<'a> {
    pub source: &'a dyn std::fmt::Display,
    pub element: usize,
    pub upc: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl Event for ElementUnconfirmed<'_> {
    const NAME: &'static str = "element_unconfirmed";

    fn emit(self) {
        let (k, source, e) = (self.element, self.source, self.error);
        tracing::error!(
            target: TARGET, event = Self::NAME, element = k, upc = %self.upc, error = %e,
            "element {k} of {source} not sent again: {e}"
        );
    }
}

/// Sending ended: every record sent ("done") or a stop ("interrupted").
pub(crate) struct StreamingFinished<'a> {
    pub interrupted: bool,
    pub sent: u32,
    pub stream: &'a str,
}

impl Event for StreamingFinished<'_> {
    const NAME: &'static str = "streaming_finished";

    fn emit(self) {
        let how = if self.interrupted {
            "interrupted"
        } else {
            "done"
        };
        tracing::info!(
            target: TARGET, event = Self::NAME, sent = self.sent, stream = %self.stream,
            "{how}: {} records sent to {}", self.sent, self.stream
        );
    }
}
