//! The state directory (`[state] dir`): the cursor, the last good catalogue and the change
//! feed (baseline + outbox) as JSON files,
//! written atomically (a unique temp file, fsync, rename, fsync of the directory) so that a
//! crash at any instant leaves either the old or the new file, never a torn one; the
//! dead-letter file (rotated by size, `dead_letter.rs`); and the lock that keeps a second process out.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalogue::Snapshot;
use crate::changes::Feed;
use crate::config::Mode;
use crate::cursor::Cursor;
use crate::dead_letter::DeadLetters;

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
    #[error(
        "{path} is not valid JSON of the expected shape ({source}). It holds the change feed: its baseline and the events not yet sent. bookstream keeps it as it is and will not start in changes mode until you choose: restore it from a backup; or move it aside (mv {path} {path}.corrupt) to start a fresh feed, whose first refresh is compared with catalogue.json (events in the old file not yet sent are then not sent); or run in catalogue mode ([stream] mode = \"catalogue\"), which does not use it"
    )]
    FeedCorrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "not writing {path}: it was found corrupt at start and is kept for the operator; restore it or move it aside, then restart bookstream"
    )]
    FeedHeld { path: PathBuf },
    #[error(
        "state directory {dir} is in use by another bookstream process{}; one process per state directory",
        pid.map(|p| format!(" (PID {p})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, pid: Option<u32> },
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    // Written as it is serialised: catalogue.json is 430 KB for the site's 1,000 books, and
    // the whole text in memory first (its buffer grown to 512 KB) was the walk's heap peak.
    let mut out = std::io::BufWriter::new(tmp.as_file_mut());
    serde_json::to_writer(&mut out, value).map_err(|e| err(e.into()))?;
    out.flush().map_err(err)?;
    drop(out);
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

/// The state directory: `cursor.json`, `catalogue.json`, `dead-letter.jsonl`, and `lock`, which
/// one process at a time holds (an advisory `flock`, released by the kernel when the process
/// ends, however it ends) with its PID inside for the message of the next one.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    dead_letters: DeadLetters,
    _lock: std::fs::File,
    /// Set when `feed.json` was found corrupt at start: it is kept and never overwritten.
    feed_held: std::sync::OnceLock<()>,
}

/// What was found in the state directory at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub cursor: Option<Cursor>,
    pub catalogue: Option<Snapshot>,
    pub feed: Option<Feed>,
    /// Corrupt files that were moved aside (reported, then started fresh).
    pub problems: Vec<String>,
    /// What was wrong with `catalogue.json`, when it was found corrupt (also in `problems`).
    pub catalogue_problem: Option<String>,
}

/// The saved catalogue the scraper's record of product pages read is seeded from at start
/// (so the first walk after a start does not read every product page again), or why there is
/// none. It is the catalogue a new walk is judged against: in changes mode the feed's baseline
/// (what the feed last reported), else `catalogue.json`.
#[derive(Debug)]
pub enum Seed<'a> {
    Saved {
        path: PathBuf,
        snapshot: &'a Snapshot,
    },
    Missing {
        path: PathBuf,
        why: String,
    },
}

impl StateStore {
    /// Creates the directory if needed and takes its lock; fails at once if another process
    /// holds it.
    pub fn open(dir: &Path) -> Result<Self, StateFileError> {
        std::fs::create_dir_all(dir).map_err(|source| StateFileError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| StateFileError::Write {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(StateFileError::Locked {
                    dir: dir.to_owned(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StateFileError::Write { path, source });
            }
        }
        // The PID is only for the message above; failing to write it changes nothing else.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        let defaults = crate::config::StateConfig::default();
        Ok(Self {
            dir: dir.to_owned(),
            dead_letters: DeadLetters::new(
                dir.join("dead-letter.jsonl"),
                defaults.dead_letter_max_bytes,
                defaults.dead_letter_files,
            ),
            _lock: file,
            feed_held: std::sync::OnceLock::new(),
        })
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

    pub fn feed_path(&self) -> PathBuf {
        self.dir.join("feed.json")
    }

    /// Commits the change feed; refused while a corrupt `feed.json` is held for the operator.
    pub fn save_feed(&self, feed: &Feed) -> Result<(), StateFileError> {
        if self.feed_held.get().is_some() {
            return Err(StateFileError::FeedHeld {
                path: self.feed_path(),
            });
        }
        write_json_atomic(&self.feed_path(), feed)
    }

    pub fn dead_letter_path(&self) -> PathBuf {
        self.dead_letters.path().to_owned()
    }

    /// `[state] dead_letter_max_bytes` and `dead_letter_files`, from the next dead letter on.
    pub fn set_dead_letter_limits(&mut self, max_bytes: u64, files: u32) {
        self.dead_letters.set_limits(max_bytes, files);
    }

    /// Dead-letter files there are: `dead-letter.jsonl` and the rotated ones kept.
    pub fn dead_letter_files(&self) -> usize {
        self.dead_letters.files()
    }

    /// Loads the files for a start in `mode`. A cursor or catalogue that is not valid JSON of
    /// its shape is moved aside (`*.corrupt`) and reported, and streaming starts fresh. A
    /// corrupt `feed.json` holds events that exist nowhere else: it is kept where it is and
    /// never overwritten; changes mode refuses to start on it (`FeedCorrupt`, exit 65), catalogue
    /// mode, which does not use it, reports it and goes on. A file that cannot be *read*
    /// (EACCES, EIO, a directory in its place) is an error: its content may be fine, and
    /// starting from book 0 would resend the whole catalogue.
    pub fn load(&self, mode: Mode) -> Result<Loaded, StateFileError> {
        let mut loaded = Loaded::default();
        loaded.cursor = load_one(&self.cursor_path(), &mut loaded.problems)?;
        let before = loaded.problems.len();
        loaded.catalogue = load_one(&self.catalogue_path(), &mut loaded.problems)?;
        if loaded.problems.len() > before {
            loaded.catalogue_problem = loaded.problems.last().cloned();
        }
        loaded.feed = match read_json(&self.feed_path()) {
            Err(StateFileError::Corrupt { path, source }) => {
                let _ = self.feed_held.set(());
                let e = StateFileError::FeedCorrupt { path, source };
                if mode == Mode::Changes {
                    return Err(e);
                }
                loaded.problems.push(format!("{e}; catalogue mode goes on"));
                None
            }
            other => other?,
        };
        Ok(loaded)
    }

    /// What `loaded` offers to seed the record of product pages read from, in `mode`.
    pub fn seed<'a>(&self, loaded: &'a Loaded, mode: Mode) -> Seed<'a> {
        let baseline = match mode {
            Mode::Changes => loaded.feed.as_ref().and_then(|f| f.baseline.as_ref()),
            Mode::Catalogue => None,
        };
        match (baseline, &loaded.catalogue) {
            (Some(snapshot), _) => Seed::Saved {
                path: self.feed_path(),
                snapshot,
            },
            (None, Some(snapshot)) => Seed::Saved {
                path: self.catalogue_path(),
                snapshot,
            },
            (None, None) => Seed::Missing {
                path: self.catalogue_path(),
                why: loaded
                    .catalogue_problem
                    .clone()
                    .unwrap_or_else(|| "not found (a first start?)".to_owned()),
            },
        }
    }

    pub fn save_cursor(&self, cursor: &Cursor) -> Result<(), StateFileError> {
        write_json_atomic(&self.cursor_path(), cursor)
    }

    pub fn save_catalogue(&self, snapshot: &Snapshot) -> Result<(), StateFileError> {
        write_json_atomic(&self.catalogue_path(), snapshot)
    }

    /// Appends one line to `dead-letter.jsonl` and fsyncs it, rotating the file by size first
    /// (see [`DeadLetters`]).
    pub fn append_dead_letter(&self, entry: &serde_json::Value) -> Result<(), StateFileError> {
        self.dead_letters.append(entry)
    }
}

fn load_one<T: serde::de::DeserializeOwned>(
    path: &Path,
    problems: &mut Vec<String>,
) -> Result<Option<T>, StateFileError> {
    match read_json(path) {
        Err(e @ StateFileError::Corrupt { .. }) => {
            let aside = path.with_extension("json.corrupt");
            problems.push(match std::fs::rename(path, &aside) {
                Ok(()) => format!("{e}; moved it to {} and starting fresh", aside.display()),
                Err(why) => format!("{e}; starting fresh (cannot move it aside: {why})"),
            });
            Ok(None)
        }
        other => other,
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
            scraped_at: "2026-01-01T00:00:00Z".parse().unwrap(),
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
        let store = StateStore::open(&dir).unwrap();
        std::fs::write(store.cursor_path(), b"\0garbage").unwrap();
        let loaded = store.load(Mode::Catalogue).unwrap();
        assert!(loaded.cursor.is_none());
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert!(dir.join("cursor.json.corrupt").exists());
        let saved = Cursor {
            last_key: Some("a".into()),
            sent_total: 1,
            ..Cursor::default()
        };
        store.save_cursor(&saved).unwrap();
        assert_eq!(store.load(Mode::Catalogue).unwrap().cursor, Some(saved));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_seed_is_the_catalogue_a_walk_is_judged_against_or_why_there_is_none() {
        let dir = scratch("seed");
        let store = StateStore::open(&dir).unwrap();
        let snap = |site: &str| Snapshot {
            site: site.into(),
            ..Snapshot::default()
        };
        let missing = store.load(Mode::Catalogue).unwrap();
        assert!(matches!(
            store.seed(&missing, Mode::Catalogue),
            Seed::Missing { path, why } if path.ends_with("catalogue.json") && why.contains("not found")
        ));
        std::fs::write(store.catalogue_path(), b"{\"books\": [").unwrap();
        let corrupt = store.load(Mode::Catalogue).unwrap();
        assert!(matches!(
            store.seed(&corrupt, Mode::Catalogue),
            Seed::Missing { why, .. } if why.contains("catalogue.json is not valid JSON")
        ));
        assert!(dir.join("catalogue.json.corrupt").exists(), "kept aside");
        store.save_catalogue(&snap("catalogue")).unwrap();
        let feed = Feed {
            baseline: Some(snap("baseline")),
            ..Feed::default()
        };
        store.save_feed(&feed).unwrap();
        let both = store.load(Mode::Changes).unwrap();
        let seeded = |mode| match store.seed(&both, mode) {
            Seed::Saved { path, snapshot } => (path, snapshot.site.clone()),
            Seed::Missing { why, .. } => panic!("{why}"),
        };
        assert_eq!(
            seeded(Mode::Catalogue),
            (store.catalogue_path(), "catalogue".into())
        );
        assert_eq!(
            seeded(Mode::Changes),
            (store.feed_path(), "baseline".into())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_state_file_is_an_error_not_corruption() {
        let dir = scratch("unreadable");
        let store = StateStore::open(&dir).unwrap();
        // A directory where the file should be: read(2) fails with EISDIR, even for root.
        std::fs::create_dir(store.cursor_path()).unwrap();
        let err = store.load(Mode::Catalogue).unwrap_err();
        assert!(matches!(err, StateFileError::Read { .. }), "{err}");
        assert!(err.to_string().contains("cursor.json"), "{err}");
        assert!(store.cursor_path().is_dir(), "nothing was moved aside");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_store_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = scratch("lock");
        let first = StateStore::open(&dir).unwrap();
        let err = StateStore::open(&dir).unwrap_err();
        let me = std::process::id();
        assert!(
            matches!(err, StateFileError::Locked { pid: Some(p), .. } if p == me),
            "{err}"
        );
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
        drop(first);
        StateStore::open(&dir).expect("free again once the holder is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dead_letters_append_one_line_each() {
        let dir = scratch("dead");
        let store = StateStore::open(&dir).unwrap();
        store
            .append_dead_letter(&serde_json::json!({"n": 1}))
            .unwrap();
        store
            .append_dead_letter(&serde_json::json!({"n": 2}))
            .unwrap();
        let text = std::fs::read_to_string(store.dead_letter_path()).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
