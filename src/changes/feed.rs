//! The change feed's durable half (`feed.json`): the baseline the next refresh is compared
//! with, the events not yet acknowledged, and the generation that keeps event ids apart.

use serde::{Deserialize, Serialize};

use super::ChangeEvent;
use crate::catalogue::Snapshot;

/// An event detected and committed, with its place in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// 1, 2, 3, ... in detection order; the cursor's `acked_seq` says how far Kinesis has
    /// acknowledged.
    pub seq: u64,
    pub event: ChangeEvent,
}

/// The change feed's durable state (`feed.json`): the catalogue the next refresh is compared
/// with, and the events not yet acknowledged. It is written whole and atomically, so the new
/// baseline and the events found against the old one are committed together: a crash before
/// the commit re-detects the same events (same ids) from the same baseline, one after it never
/// detects them again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Feed {
    pub baseline: Option<Snapshot>,
    pub pending: Vec<Pending>,
    pub next_seq: u64,
}

impl Feed {
    /// The generation the next detection runs in: the sequence number of the last event
    /// committed so far (the cursor's `acked_seq` when a fresh feed starts after an old one).
    /// Every commit that adds events moves it on, and a crash before a commit leaves it where
    /// it was, so a change re-detected after a crash keeps its event id and the same change
    /// happening again later gets a new one.
    pub fn generation(&self, acked_seq: u64) -> u64 {
        self.next_seq.max(acked_seq)
    }

    /// The feed after a refresh: `baseline` becomes the new one, `events` join the backlog,
    /// and the events up to `acked_seq` leave it.
    pub fn committed(&self, events: Vec<ChangeEvent>, baseline: Snapshot, acked_seq: u64) -> Feed {
        let mut next_seq = self.generation(acked_seq) + 1;
        let mut pending: Vec<Pending> = self
            .pending
            .iter()
            .filter(|p| p.seq > acked_seq)
            .cloned()
            .collect();
        for event in events {
            pending.push(Pending {
                seq: next_seq,
                event,
            });
            next_seq += 1;
        }
        Feed {
            baseline: Some(baseline),
            pending,
            next_seq: next_seq - 1,
        }
    }

    /// The events after `acked_seq`, in order.
    pub fn backlog(&self, acked_seq: u64) -> impl Iterator<Item = &Pending> {
        self.pending.iter().filter(move |p| p.seq > acked_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Book;
    use crate::changes::tests::book;
    use crate::changes::{diff_in, snapshot};

    #[test]
    fn a_commit_appends_in_order_and_drops_what_was_acknowledged() {
        let snap = |books| Snapshot {
            scraped_at: Default::default(),
            site: "s".into(),
            books,
        };
        let first = Feed::default().committed(
            snapshot(
                &[book("a", "1.00", 1), book("b", "1.00", 1)],
                &Default::default(),
                0,
            ),
            snap(vec![]),
            0,
        );
        assert_eq!(
            first.pending.iter().map(|p| p.seq).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(first.backlog(1).count(), 1);
        let second = first.committed(
            snapshot(&[book("c", "1.00", 1)], &Default::default(), 2),
            snap(vec![]),
            1,
        );
        let seqs: Vec<u64> = second.pending.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [2, 3], "1 was acknowledged; 3 follows 2");
        assert_eq!(second.next_seq, 3);
    }

    #[test]
    fn a_change_that_happens_again_in_a_later_generation_gets_a_new_id() {
        let (a, b) = (vec![book("a", "1.00", 1)], vec![book("a", "2.00", 1)]);
        let snap = |books: &[Book]| Snapshot {
            scraped_at: Default::default(),
            site: "s".into(),
            books: books.to_vec(),
        };
        // A -> B, B -> A, A -> B, each detection committed before the next.
        let mut feed = Feed::default();
        let mut ids = Vec::new();
        for (old, new) in [(&a, &b), (&b, &a), (&a, &b)] {
            let generation = feed.generation(0);
            let events = diff_in(old, new, &Default::default(), generation);
            // Re-detected after a crash before the commit: the same ids.
            assert_eq!(
                events,
                diff_in(old, new, &Default::default(), feed.generation(0))
            );
            ids.push(events[0].event_id.clone());
            feed = feed.committed(events, snap(new), 0);
        }
        assert_ne!(ids[0], ids[2], "the price went to 2.00 twice: two changes");
        assert_ne!(ids[0], ids[1]);
        // A fresh feed (the old one moved aside) goes on from the cursor's acknowledgements.
        assert_eq!(Feed::default().generation(7), 7);
    }
}
