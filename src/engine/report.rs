//! What one cycle did, as a value: the daemon turns it into the STATUS line, the summary log
//! and the metrics; and how many records a cycle's slot has room for.

use std::time::Duration;

use crate::catalogue::Timestamp;
use crate::kinesis::producer::SendStats;

/// What one cycle did; the daemon turns it into the STATUS line and the summary log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CycleReport {
    pub cycle: u64,
    pub planned: usize,
    pub sent: u32,
    /// Index of the next book to send, and the catalogue size.
    pub position: usize,
    pub catalogue_len: usize,
    pub sent_total: u64,
    /// Records set aside in the dead-letter file this cycle, and since the state was created.
    pub dead_lettered: u32,
    pub dead_lettered_total: u64,
    /// Where they are, and how many files (the current one and the rotated ones kept).
    pub dead_letter_file: String,
    pub dead_letter_files: usize,
    /// A refresh that failed while an older catalogue was used instead.
    pub stale: Option<String>,
    /// What stopped the cycle short: no catalogue at all, or a put that failed for good.
    pub error: Option<String>,
    /// Changes mode: events left to send, and when the baseline was scraped.
    pub changes: Option<Changes>,
    /// For the metrics: what the sends cost, records left unsent by a failed put, scrapes
    /// that failed (or were refused) and product pages that failed since the last cycle,
    /// changes detected since the last cycle.
    pub send: SendStats,
    pub unsent_after_failure: u32,
    pub scrape_failures: u32,
    pub product_pages_failed: u32,
    pub changes_detected: u32,
    /// How old what is streamed is (STATUS and the metrics).
    pub freshness: Freshness,
    /// Records due in this cycle's slot that were not sent: the slot's capacity left unused
    /// while there were records to send (or no catalogue at all). 0 in a healthy cycle, and
    /// for a cycle cut short by a clean stop.
    pub records_not_sent: u32,
    /// The cycle ended with an error that stops or degrades sending: a state file that cannot
    /// be saved, no catalogue, a change feed that cannot be committed, a refresh that failed
    /// or was refused, a put that failed for good.
    pub cycle_error: bool,
    /// No catalogue yet and the first walk still running, with this many pages answered in
    /// the slot: the daemon is starting, not failing (no error, nothing counted as not sent).
    pub first_walk: Option<u64>,
}

/// Changes mode: where the feed stands after the cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Events detected and not yet acknowledged.
    pub backlog: usize,
    /// When the baseline the events were detected against was scraped.
    pub since: Timestamp,
}

/// How fresh the streamed catalogue is, as the engine knows it after a cycle's refresh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freshness {
    /// The catalogue's age (`CatalogueAge`); `None` without one.
    pub catalogue_age: Option<Duration>,
    /// Since the last walk taken (every listing page read; `ListingAge`), `None` before this
    /// process took one.
    pub listing_age: Option<Duration>,
    /// The longest a product page has gone unread (incremental refresh; `VerificationAge`).
    pub verification_age: Option<Duration>,
}

impl Freshness {
    /// For STATUS, short (`systemctl status` shows it on one line): how old the listings are
    /// (since the last walk; before this process took one, the catalogue's age, which its
    /// listings share) and the product page verified longest ago, e.g.
    /// "listings 40s old, products 52m old". `None` without a catalogue.
    pub fn status(&self) -> Option<String> {
        let listings = self.listing_age.or(self.catalogue_age)?;
        let mut s = format!("listings {} old", short_age(listings));
        if let Some(products) = self.verification_age {
            s.push_str(&format!(", products {} old", short_age(products)));
        }
        Some(s)
    }
}

/// An age in its largest unit that keeps two digits: "45s", "12m", "3h", "2d"; "?" for an age
/// that cannot be one (a catalogue dated in the future counts as infinitely old).
fn short_age(age: Duration) -> String {
    const CENTURY: u64 = 100 * 365 * 86_400;
    match age.as_secs() {
        s if s > CENTURY => "?".to_owned(),
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

impl CycleReport {
    /// The STATUS line after a cycle: what it did, when the next is due (`next`), and how
    /// fresh the feed is.
    pub fn status(&self, next: &str) -> String {
        let mut s = format!("{}, next {next}", self.status_line());
        if let Some(fresh) = self.freshness.status() {
            s.push_str(&format!(", {fresh}"));
        }
        s
    }

    /// What the cycle did, for STATUS and the cycle's summary line.
    pub fn status_line(&self) -> String {
        if let Some(pages) = self.first_walk {
            return format!(
                "cycle {}: waiting for the first walk of the site ({pages} pages read in this slot)",
                self.cycle
            );
        }
        let mut s = match &self.changes {
            None => format!(
                "cycle {}: {}/{} sent, cursor {}/{}",
                self.cycle, self.sent, self.planned, self.position, self.catalogue_len
            ),
            Some(Changes { backlog: 0, since }) if self.planned == 0 => {
                let at = since.format("%H:%M:%S");
                format!("cycle {}: no changes since {at}", self.cycle)
            }
            Some(Changes { backlog, .. }) => format!(
                "cycle {}: {}/{} changes sent, backlog {backlog}",
                self.cycle, self.sent, self.planned
            ),
        };
        if self.dead_lettered_total > 0 {
            let files = match self.dead_letter_files {
                0 | 1 => format!("in {}", self.dead_letter_file),
                2 => format!("2 files: {} and .1", self.dead_letter_file),
                n => format!("{n} files: {} and .1 to .{}", self.dead_letter_file, n - 1),
            };
            s.push_str(&format!(
                ", {} dead-lettered ({} in all, {files})",
                self.dead_lettered, self.dead_lettered_total
            ));
        }
        if let Some(stale) = &self.stale {
            s.push_str(&format!(", {stale}"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!(", error: {e}"));
        }
        s
    }
}

/// How many records this cycle's slot has room for: `max_records`, or fewer when the slot
/// (`slot_left`, `None` for `once`) ends before the last of them is due (record k is due at
/// k * interval; none is sent at or after the slot's end).
pub(super) fn slot_capacity(
    max_records: usize,
    interval: std::time::Duration,
    slot_left: Option<std::time::Duration>,
) -> usize {
    match slot_left {
        Some(left) if !interval.is_zero() => {
            let fit = left.as_secs_f64() / interval.as_secs_f64();
            max_records.min(fit.ceil() as usize)
        }
        _ => max_records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_slot_holds_max_records_or_as_many_as_are_due_before_it_ends() {
        let s = Duration::from_secs;
        assert_eq!(slot_capacity(60, s(1), Some(s(60))), 60);
        assert_eq!(
            slot_capacity(60, s(1), Some(Duration::from_millis(59_990))),
            60
        );
        assert_eq!(slot_capacity(60, s(1), Some(s(30))), 30);
        assert_eq!(
            slot_capacity(10, Duration::from_millis(100), Some(s(2))),
            10
        );
        assert_eq!(slot_capacity(60, s(1), None), 60, "once: no slot");
        assert_eq!(slot_capacity(60, Duration::ZERO, Some(s(1))), 60);
        assert_eq!(slot_capacity(60, s(1), Some(Duration::ZERO)), 0);
    }

    #[test]
    fn status_says_how_fresh_the_listings_and_the_product_pages_are() {
        let s = Duration::from_secs;
        let mut r = CycleReport {
            cycle: 3,
            planned: 10,
            sent: 10,
            position: 30,
            catalogue_len: 30,
            freshness: Freshness {
                catalogue_age: Some(s(4000)),
                listing_age: Some(s(40)),
                verification_age: Some(s(52 * 60 + 59)),
            },
            ..CycleReport::default()
        };
        assert_eq!(
            r.status("14:05:00"),
            "cycle 3: 10/10 sent, cursor 30/30, next 14:05:00, listings 40s old, products 52m old"
        );
        // Before this process walked the site: the catalogue's own age, from disk.
        r.freshness.listing_age = None;
        r.freshness.verification_age = None;
        assert!(r.status("x").ends_with(", next x, listings 66m old"));
        r.freshness.catalogue_age = Some(Duration::MAX);
        assert!(r.status("x").ends_with(", listings ? old"));
        r.freshness.catalogue_age = None;
        assert_eq!(r.status("x"), "cycle 3: 10/10 sent, cursor 30/30, next x");
    }

    #[test]
    fn ages_are_short_in_their_largest_unit() {
        let s = Duration::from_secs;
        let got: Vec<String> = [0, 119, 120, 7199, 7200, 47 * 3600, 48 * 3600, 400 * 86_400]
            .into_iter()
            .map(|secs| short_age(s(secs)))
            .collect();
        assert_eq!(got, ["0s", "119s", "2m", "119m", "2h", "47h", "2d", "400d"]);
    }

    #[test]
    fn status_counts_the_dead_letter_files_kept() {
        let mut r = CycleReport {
            cycle: 7,
            planned: 10,
            sent: 9,
            dead_lettered: 1,
            dead_lettered_total: 30,
            dead_letter_file: "/s/dead-letter.jsonl".into(),
            dead_letter_files: 3,
            ..CycleReport::default()
        };
        assert_eq!(
            r.status_line(),
            "cycle 7: 9/10 sent, cursor 0/0, 1 dead-lettered (30 in all, 3 files: /s/dead-letter.jsonl and .1 to .2)"
        );
        r.dead_letter_files = 1;
        assert!(
            r.status_line()
                .ends_with("(30 in all, in /s/dead-letter.jsonl)")
        );
    }
}
