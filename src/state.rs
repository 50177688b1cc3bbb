//! The state directory (`[state] dir`): the cursor and the last good catalogue as JSON files,
//! written atomically (a unique temp file, fsync, rename, fsync of the directory) so that a
//! crash at any instant leaves either the old or the new file, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalogue::Snapshot;
use crate::cursor::Cursor;

/// Errors reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON of the expected shape: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a JSON state file; `Ok(None)` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateFileError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Writes `value` as JSON so that a crash at any instant leaves either the old or the new file:
/// a uniquely named temporary sibling (removed again if anything fails), fsync, rename over the
/// target, fsync of the directory.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), StateFileError> {
    let err = |source| StateFileError::Write {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec(value).map_err(|e| err(std::io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(&bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

/// The state directory: `cursor.json` and `catalogue.json`.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

/// What was found in the state directory at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub cursor: Option<Cursor>,
    pub catalogue: Option<Snapshot>,
    /// Problems that were survived (reported, then started fresh).
    pub problems: Vec<String>,
}

impl StateStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cursor_path(&self) -> PathBuf {
        self.dir.join("cursor.json")
    }

    pub fn catalogue_path(&self) -> PathBuf {
        self.dir.join("catalogue.json")
    }

    /// Creates the directory if needed.
    pub fn ensure_dir(&self) -> Result<(), StateFileError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| StateFileError::Write {
            path: self.dir.clone(),
            source,
        })
    }

    /// Loads both files. A corrupt file is moved aside (`*.corrupt`) and reported; the daemon
    /// never refuses to start because of its own state.
    pub fn load(&self) -> Loaded {
        let mut loaded = Loaded::default();
        loaded.cursor = self.load_one(&self.cursor_path(), &mut loaded.problems);
        loaded.catalogue = self.load_one(&self.catalogue_path(), &mut loaded.problems);
        loaded
    }

    fn load_one<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
        problems: &mut Vec<String>,
    ) -> Option<T> {
        match read_json(path) {
            Ok(v) => v,
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                let moved = std::fs::rename(path, &aside).is_ok();
                problems.push(if moved {
                    format!("{e}; moved it to {} and starting fresh", aside.display())
                } else {
                    format!("{e}; starting fresh")
                });
                None
            }
        }
    }

    pub fn save_cursor(&self, cursor: &Cursor) -> Result<(), StateFileError> {
        write_json_atomic(&self.cursor_path(), cursor)
    }

    pub fn save_catalogue(&self, snapshot: &Snapshot) -> Result<(), StateFileError> {
        write_json_atomic(&self.catalogue_path(), snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bookstream-state-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn atomic_write_round_trips_and_leaves_no_temp_file() {
        let dir = scratch("atomic");
        let path = dir.join("snap.json");
        let snap = Snapshot {
            scraped_at: "2026-01-01T00:00:00Z".into(),
            site: "http://x".into(),
            books: vec![],
        };
        write_json_atomic(&path, &snap).unwrap();
        write_json_atomic(&path, &snap).unwrap();
        let back: Option<Snapshot> = read_json(&path).unwrap();
        assert_eq!(back, Some(snap));
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["snap.json"], "only the target remains");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read_json::<Snapshot>(&path),
            Err(StateFileError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_state_is_moved_aside_and_reported() {
        let dir = scratch("corrupt");
        let store = StateStore::new(&dir);
        std::fs::write(store.cursor_path(), b"\0garbage").unwrap();
        let loaded = store.load();
        assert!(loaded.cursor.is_none());
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert!(dir.join("cursor.json.corrupt").exists());
        let saved = Cursor {
            last_key: Some("a".into()),
            sent_total: 1,
            ..Cursor::default()
        };
        store.save_cursor(&saved).unwrap();
        assert_eq!(store.load().cursor, Some(saved));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
