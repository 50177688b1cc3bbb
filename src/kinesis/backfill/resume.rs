//! The resume point a stopped backfill leaves behind: the records Kinesis has not acknowledged,
//! one JSON object per line, a file `bookstream stream --json-file F --interval 0` takes as it
//! is. A rerun on it sends only those records, not the whole input again.
//!
//! A record's line is its data as sent (the object with the whitespace between tokens removed)
//! without the delimiter: the same record again under the same `--record-delimiter` and
//! `--partition-key {field}`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The resume file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("resume file {}: {source}", .path.display())]
pub struct ResumeError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A resume file being written: a temporary file in `dir`, named only once it is complete.
pub struct ResumeWriter {
    out: BufWriter<NamedTempFile>,
    dir: PathBuf,
    stem: String,
    delimiter: &'static [u8],
    records: u64,
}

impl ResumeWriter {
    /// Starts a resume file for `stream` in `dir`; `delimiter` is what each record's data ends
    /// with (it is not part of the line).
    pub fn create(
        dir: &Path,
        stream: &str,
        delimiter: &'static [u8],
    ) -> Result<ResumeWriter, ResumeError> {
        let safe: String = stream
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let stem = format!("bookstream-resume-{safe}-{stamp}");
        let file = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|source| ResumeError {
                path: dir.join(format!("{stem}.jsonl")),
                source,
            })?;
        Ok(ResumeWriter {
            out: BufWriter::new(file),
            dir: dir.to_owned(),
            stem,
            delimiter,
            records: 0,
        })
    }

    /// Appends one record (its data as sent).
    pub fn write(&mut self, data: &[u8]) -> Result<(), ResumeError> {
        let json = data.strip_suffix(self.delimiter).unwrap_or(data);
        let written = self
            .out
            .write_all(json)
            .and_then(|()| self.out.write_all(b"\n"));
        written.map_err(|source| ResumeError {
            path: self.out.get_ref().path().to_owned(),
            source,
        })?;
        self.records += 1;
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes, syncs and names the file (never over an existing one); its path.
    pub fn finish(self) -> Result<PathBuf, ResumeError> {
        let temp_path = self.out.get_ref().path().to_owned();
        let fail = |source| ResumeError {
            path: temp_path.clone(),
            source,
        };
        let file = self.out.into_inner().map_err(|e| fail(e.into_error()))?;
        file.as_file().sync_all().map_err(fail)?;
        let mut file = file;
        for n in 1.. {
            let name = match n {
                1 => format!("{}.jsonl", self.stem),
                n => format!("{}-{n}.jsonl", self.stem),
            };
            let path = self.dir.join(name);
            match file.persist_noclobber(&path) {
                Ok(_) => return Ok(path),
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                    file = e.file;
                }
                Err(e) => {
                    return Err(ResumeError {
                        path,
                        source: e.error,
                    });
                }
            }
        }
        unreachable!("the loop returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_lines_without_their_delimiter_and_the_name_is_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for _ in 0..2 {
            let mut w = ResumeWriter::create(dir.path(), "books stream", b"\n").unwrap();
            w.write(b"{\"upc\":\"a\"}\n").unwrap();
            w.write(b"{\"upc\":\"b\"}").unwrap();
            assert_eq!(w.records(), 2);
            paths.push(w.finish().unwrap());
        }
        assert_ne!(paths[0], paths[1]);
        for path in &paths {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(
                name.starts_with("bookstream-resume-books_stream-"),
                "{name}"
            );
            assert_eq!(
                std::fs::read_to_string(path).unwrap(),
                "{\"upc\":\"a\"}\n{\"upc\":\"b\"}\n"
            );
        }
        // Only the two named files: no temporary left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
