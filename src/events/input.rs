//! The input room's events: what goes wrong with the reader itself (what is wrong with the
//! input is an error value, [`crate::input::InputError`], reported by the command).

use super::events;

events! {
    /// The reader's thread could not be started: nothing is read (`finish` then reports the
    /// reader as lost).
    "input_reader_failed" => InputReaderFailed<'a> {
        source: &'a str,
        error: &'a dyn std::fmt::Display,
    }
    error!(target: "bookstream::input", source, %error,
        "cannot start the input reader of {source}: {error}");
}
