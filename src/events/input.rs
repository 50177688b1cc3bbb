//! The input room's events: what goes wrong with the reader itself (what is wrong with the
//! input is an error value, [`crate::input::InputError`], reported by the command).

#[cfg(test)]
use super::Event;
use super::event;

#[cfg(test)]
pub(super) const NAMES: &[&str] = &[InputReaderFailed::NAME];

event! {
    /// The reader's thread could not be started: nothing is read (`finish` then reports the
    /// reader as lost).
    pub(crate) struct InputReaderFailed<'a> {
        pub source: &'a str,
        pub error: &'a dyn std::fmt::Display,
    }
    const NAME = "input_reader_failed";
    error!(target: "bookstream::input", source, %error,
        "cannot start the input reader of {source}: {error}");
}
