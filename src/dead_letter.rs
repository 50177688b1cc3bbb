//! The dead-letter file (`STATE/dead-letter.jsonl`): one line per record Kinesis can never
//! accept, fsynced, rotated by size so that it never grows without bound. Before a line would
//! take the file past `[state] dead_letter_max_bytes` it becomes `dead-letter.jsonl.1` (the
//! older ones move up to `.2` ... `.N`, `N` = `[state] dead_letter_files`, the oldest beyond
//! that is removed) and the line starts a new file. The line being written is never lost: when
//! rotating fails, it goes into the current file all the same.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::StateFileError;

/// The dead-letter file and its rotation limits.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
}

impl DeadLetters {
    /// `path` with at most `max_bytes` a file (a single larger line gets a file of its own)
    /// and `keep` rotated files.
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
        }
    }

    /// New limits (a reloaded `[state]`), from the next line on.
    pub fn set_limits(&mut self, max_bytes: u64, keep: u32) {
        self.max_bytes = max_bytes.max(1);
        self.keep = keep.max(1);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `dead-letter.jsonl.n`.
    pub fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// The files there are: the current one and the rotated ones kept.
    pub fn files(&self) -> usize {
        std::iter::once(self.path.clone())
            .chain((1..=self.keep).map(|n| self.rotated(n)))
            .filter(|p| p.is_file())
            .count()
    }

    /// Appends one line (`entry` as compact JSON) and fsyncs it, rotating first when the line
    /// would take a non-empty file past the size limit.
    pub fn append(&self, entry: &serde_json::Value) -> Result<(), StateFileError> {
        let err = |source| StateFileError::Write {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| err(std::io::Error::other(e)))?;
        line.push(b'\n');
        let size = match std::fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(err(e)),
        };
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            match self.rotate() {
                Ok(dropped) => tracing::info!(
                    dead_letter = %self.path.display(), max_bytes = self.max_bytes, kept = self.keep,
                    "{} reached {} bytes ([state] dead_letter_max_bytes): rotated to {}{}",
                    self.path.display(), self.max_bytes, self.rotated(1).display(),
                    dropped.map(|d| format!("; the oldest, {}, was removed ([state] dead_letter_files = {})", d.display(), self.keep)).unwrap_or_default()
                ),
                Err(e) => tracing::warn!(
                    dead_letter = %self.path.display(), error = %e,
                    "cannot rotate {}: {e}; appending to it all the same", self.path.display()
                ),
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(err)?;
        file.write_all(&line).map_err(err)?;
        file.sync_all().map_err(err)
    }

    /// `.N-1` -> `.N` ... current -> `.1`; returns the oldest file when it was overwritten.
    fn rotate(&self) -> std::io::Result<Option<PathBuf>> {
        let oldest = self.rotated(self.keep);
        let dropped = oldest.is_file().then(|| oldest.clone());
        // Files beyond a (lowered) `dead_letter_files`, from an earlier run.
        let mut n = self.keep + 1;
        while self.rotated(n).is_file() {
            std::fs::remove_file(self.rotated(n))?;
            n += 1;
        }
        for n in (1..self.keep).rev() {
            match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bookstream-dead-letter-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lines(path: &Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn rotation_keeps_a_bounded_number_of_files_and_the_newest_records_in_order() {
        let dir = scratch();
        // `{"n":10}\n` is 9 bytes: two lines a file under a cap of 20.
        let dead = DeadLetters::new(dir.join("dead-letter.jsonl"), 20, 2);
        for n in 10..20 {
            dead.append(&serde_json::json!({ "n": n })).unwrap();
            assert!(dead.files() <= 3, "{}", dead.files());
        }
        assert_eq!(dead.files(), 3);
        assert!(!dead.rotated(3).exists());
        let kept: Vec<u64> = [
            dead.rotated(2),
            dead.rotated(1),
            dir.join("dead-letter.jsonl"),
        ]
        .iter()
        .flat_map(|p| lines(p))
        .collect();
        assert_eq!(
            kept,
            [14, 15, 16, 17, 18, 19],
            "the newest, in order, none missing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_line_larger_than_the_cap_gets_a_file_of_its_own() {
        let dir = scratch();
        let dead = DeadLetters::new(dir.join("dead-letter.jsonl"), 5, 3);
        dead.append(&serde_json::json!({ "n": 1 })).unwrap();
        dead.append(&serde_json::json!({ "n": 2 })).unwrap();
        assert_eq!(lines(dead.path()), [2]);
        assert_eq!(lines(&dead.rotated(1)), [1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rotation_that_fails_still_writes_the_record() {
        let dir = scratch();
        let dead = DeadLetters::new(dir.join("dead-letter.jsonl"), 5, 1);
        dead.append(&serde_json::json!({ "n": 1 })).unwrap();
        // A non-empty directory where `.1` goes: the rename fails with EISDIR, as root too.
        std::fs::create_dir_all(dead.rotated(1).join("in-the-way")).unwrap();
        dead.append(&serde_json::json!({ "n": 2 })).unwrap();
        assert_eq!(lines(dead.path()), [1, 2], "never lost");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_beyond_a_lowered_limit_are_removed_at_the_next_rotation() {
        let dir = scratch();
        let mut dead = DeadLetters::new(dir.join("dead-letter.jsonl"), 5, 4);
        for n in 0..5 {
            dead.append(&serde_json::json!({ "n": n })).unwrap();
        }
        assert_eq!(dead.files(), 5);
        dead.set_limits(5, 2);
        dead.append(&serde_json::json!({ "n": 5 })).unwrap();
        assert_eq!(dead.files(), 3);
        assert!(!dead.rotated(3).exists() && !dead.rotated(4).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
