//! The input room's events: what goes wrong with the reader itself (what is wrong with the
//! input is an error value, [`crate::input::InputError`], reported by the command).

use super::Event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[InputReaderFailed::NAME];

/// The reader's thread could not be started: nothing is read (`finish` then reports the
/// reader as lost).
pub(crate) struct InputReaderFailed<'a> {
    pub source: &'a str,
    pub error: &'a dyn std::fmt::Display,
}

impl Event for InputReaderFailed<'_> {
    const NAME: &'static str = "input_reader_failed";

    fn emit(self) {
        let Self { source, error } = self;
        tracing::error!(
            target: "bookstream::input",
            event = Self::NAME, source, error = %error,
            "cannot start the input reader of {source}: {error}"
        );
    }
}
