//! What a cycle will send, as a value: each record beside what its acknowledgement moves (a
//! book of the catalogue, or an event of the change feed), and why the catalogue it came from
//! may be stale. Planning reads the engine's state and changes nothing.

use std::borrow::Borrow;

use super::Engine;
use crate::catalogue::{Timestamp, rfc3339};
use crate::config::{Mode, Settings};
use crate::cursor;
use crate::kinesis::{self, Outgoing};

/// The records of one cycle, in sending order.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub items: Vec<Planned>,
    /// A refresh that failed while an older catalogue is streamed: why, and from what.
    pub stale: Option<String>,
    /// Changes mode: when the baseline the backlog was detected against was scraped.
    pub changes_since: Option<Timestamp>,
}

/// One record and what it stands for, so that its acknowledgement moves the right cursor.
#[derive(Debug)]
pub(super) struct Planned {
    pub record: Outgoing,
    pub position: Position,
}

/// The producer sends a slice of planned records as it sends a slice of records.
impl Borrow<Outgoing> for Planned {
    fn borrow(&self) -> &Outgoing {
        &self.record
    }
}

/// What a planned record stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Position {
    /// Catalogue mode: the book at this index of the catalogue.
    Book(usize),
    /// Changes mode: the feed's event with this sequence number.
    Event(u64),
}

/// Nothing to plan from: no catalogue at all (the message says why, for STATUS).
#[derive(Debug)]
pub(super) struct NoCatalogue(pub String);

impl Engine {
    /// The cycle's plan in the configured mode; `refreshed` is how this cycle's refresh went.
    pub(super) fn plan(
        &self,
        cfg: &Settings,
        refreshed: Result<(), String>,
    ) -> Result<Plan, NoCatalogue> {
        match cfg.stream.mode {
            Mode::Catalogue => self.plan_catalogue(cfg, refreshed),
            Mode::Changes => self.plan_changes(cfg, refreshed),
        }
    }

    /// Catalogue mode: the next `max_records` books from the cursor, wrapping around.
    fn plan_catalogue(
        &self,
        cfg: &Settings,
        refreshed: Result<(), String>,
    ) -> Result<Plan, NoCatalogue> {
        let Some(snapshot) = &self.catalogue else {
            return Err(no_catalogue(refreshed));
        };
        let books = &snapshot.books;
        let items = cursor::plan(books, &self.cursor, cfg.stream.max_records as usize)
            .into_iter()
            .map(|i| Planned {
                record: encode(cfg, &books[i], books[i].key()),
                position: Position::Book(i),
            })
            .collect();
        Ok(Plan {
            items,
            stale: refreshed.err().map(|e| {
                format!(
                    "{e}; streaming from the catalogue of {}",
                    rfc3339(&snapshot.scraped_at)
                )
            }),
            changes_since: None,
        })
    }

    /// Changes mode: the next `max_records` events of the backlog, oldest first. Without a
    /// baseline of its own yet (just switched from catalogue mode), the feed starts from the
    /// last good catalogue, which the next refresh is compared with.
    fn plan_changes(
        &self,
        cfg: &Settings,
        refreshed: Result<(), String>,
    ) -> Result<Plan, NoCatalogue> {
        let Some(baseline) = self.feed.baseline.as_ref().or(self.catalogue.as_ref()) else {
            return Err(no_catalogue(refreshed));
        };
        let items = self
            .feed
            .backlog(self.cursor.acked_seq)
            .take(cfg.stream.max_records as usize)
            .map(|p| Planned {
                record: encode(cfg, &p.event, p.event.book.key()),
                position: Position::Event(p.seq),
            })
            .collect();
        Ok(Plan {
            items,
            stale: refreshed
                .err()
                .map(|e| format!("{e}; no changes detected from it")),
            changes_since: Some(baseline.scraped_at),
        })
    }
}

/// Why there is nothing to stream: the refresh's failure, or no refresh has finished yet.
fn no_catalogue(refreshed: Result<(), String>) -> NoCatalogue {
    NoCatalogue(
        refreshed
            .err()
            .unwrap_or_else(|| "no catalogue yet".to_owned()),
    )
}

/// One record: `value` as compact JSON with the configured delimiter and partition key.
fn encode<T: serde::Serialize>(cfg: &Settings, value: &T, key: &str) -> Outgoing {
    let value = serde_json::to_value(value).unwrap_or_default();
    kinesis::encode(
        &value,
        cfg.stream.record_delimiter,
        &cfg.kinesis.partition_key,
        key,
    )
}
