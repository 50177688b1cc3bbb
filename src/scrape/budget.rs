//! The per-host request budget: requests start one at a time through a gate, evenly spaced
//! at `1 / [site] max_requests_per_sec` (or the site's `Crawl-delay`, when longer), so no
//! one-second window ever holds more than the budget, whatever the `concurrency` cap lets be
//! in flight.
//!
//! On top, the spacing adapts to the site as Scrapy's AutoThrottle does: a healthy answer
//! moves it halfway towards the answer's latency (one request in flight on average: a site
//! that slows down is asked less often), a 429, a 5xx or a timeout doubles it (errors alone up
//! to [`ERROR_SLOWDOWN`] times the budget's spacing), and a
//! `Retry-After` holds every request until it has passed. Errors never shorten it, and it
//! never goes below the budget's spacing.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Longest spacing the throttle grows to (a request every 30 s at worst).
pub const MAX_SPACING: Duration = Duration::from_secs(30);
/// Errors alone slow the walk down to this many times the budget's spacing at most (within
/// [`MAX_SPACING`]): a site whose every page fails once is asked at a sixteenth of the budget,
/// not once in 30 s for the rest of the walk.
pub const ERROR_SLOWDOWN: u32 = 16;
/// Longest `Retry-After` pause honoured at once.
pub const MAX_PAUSE: Duration = Duration::from_secs(120);

/// How an answer went, for the throttle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// 2xx or 304, its head after this long.
    Healthy(Duration),
    /// 429, 5xx, a timeout or a dropped connection; with the server's `Retry-After`, if any.
    Struggling(Option<Duration>),
    /// Anything else (a 404, say): says nothing about the site's load.
    Neutral,
}

/// The gate every request of a walk passes before it is sent. Shared by the walk's tasks.
#[derive(Debug)]
pub struct Pace {
    /// When the last turn began.
    gate: tokio::sync::Mutex<Option<Instant>>,
    state: Mutex<Throttle>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Throttle {
    /// The budget's spacing (with a 2% margin for timer and network jitter), or the
    /// `Crawl-delay`, whichever is longer.
    floor: Duration,
    spacing: Duration,
    /// No request starts before this (a `Retry-After`).
    paused_until: Option<Instant>,
}

impl Pace {
    /// A gate for `max_per_sec` requests a second (at least one an hour), and at least
    /// `crawl_delay` between two.
    pub fn new(max_per_sec: f64, crawl_delay: Option<Duration>) -> Pace {
        let per_sec = if max_per_sec.is_finite() {
            max_per_sec.max(1.0 / 3600.0)
        } else {
            1.0
        };
        let floor = with_margin(Duration::from_secs_f64(1.0 / per_sec))
            .max(with_margin(crawl_delay.unwrap_or_default()));
        Pace {
            gate: tokio::sync::Mutex::new(None),
            state: Mutex::new(Throttle {
                floor,
                spacing: floor,
                paused_until: None,
            }),
        }
    }

    /// Waits for this request's turn: at least the current spacing after the request before
    /// it started, and after any `Retry-After` pause. Turns are given in arrival order.
    pub async fn turn(&self) {
        let mut last = self.gate.lock().await;
        let t = self.throttle();
        let mut at = last.map_or_else(Instant::now, |l| l + t.spacing);
        if let Some(p) = t.paused_until {
            at = at.max(p);
        }
        tokio::time::sleep_until(at).await;
        // Spaced from when this turn really began, so a late wake-up never bunches two.
        *last = Some(Instant::now());
    }

    /// Adapts the spacing to how an answer went.
    pub fn answered(&self, answer: Answer) {
        let mut t = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *t = step(*t, answer, Instant::now());
    }

    /// Never less than `delay` between two requests from now on (a `Crawl-delay` read after
    /// the gate was made).
    pub fn at_least(&self, delay: Duration) {
        let mut t = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        t.floor = t.floor.max(with_margin(delay));
        t.spacing = t.spacing.max(t.floor);
    }

    /// A new walk starts at the budget's spacing (the throttle adapts within a walk; a site that
    /// was down an hour ago is not asked every 30 s for the rest of the day), but keeps its
    /// distance from the last request and any `Retry-After` still running.
    pub fn new_walk(&self) {
        let mut t = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        t.spacing = t.floor;
    }

    /// The spacing now between two requests.
    pub fn spacing(&self) -> Duration {
        self.throttle().spacing
    }

    fn throttle(&self) -> Throttle {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 2% more than `d`: a timer that wakes late, or a packet that waits, never bunches two
/// requests closer than asked at the site's end.
fn with_margin(d: Duration) -> Duration {
    d.mul_f64(1.02)
}

/// The throttle after `answer`, pure.
fn step(t: Throttle, answer: Answer, now: Instant) -> Throttle {
    let floor = t.floor;
    match answer {
        Answer::Healthy(latency) => {
            let target = latency.clamp(floor, MAX_SPACING);
            let halfway = (t.spacing + target) / 2;
            // Within a millisecond is there (halving alone would never arrive).
            let spacing = if halfway.abs_diff(target) < Duration::from_millis(1) {
                target
            } else {
                halfway
            };
            Throttle {
                spacing: spacing.max(floor),
                ..t
            }
        }
        Answer::Struggling(retry_after) => Throttle {
            floor,
            // Never shorter than it was (a slow site's latency may have made it longer).
            spacing: (t.spacing * 2).min(
                (floor * ERROR_SLOWDOWN)
                    .clamp(floor, MAX_SPACING)
                    .max(t.spacing),
            ),
            paused_until: match retry_after {
                Some(wait) => Some(now + wait.min(MAX_PAUSE)).max(t.paused_until),
                None => t.paused_until,
            },
        },
        Answer::Neutral => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn at(floor: Duration, spacing: Duration) -> Throttle {
        Throttle {
            floor,
            spacing,
            paused_until: None,
        }
    }

    #[test]
    fn errors_slow_down_healthy_answers_come_back_to_the_budget_never_below() {
        let floor = 500 * MS;
        let now = Instant::now();
        let t = step(at(floor, floor), Answer::Struggling(None), now);
        assert_eq!(t.spacing, 1000 * MS);
        let t = step(t, Answer::Struggling(None), now);
        assert_eq!(t.spacing, 2000 * MS);
        let t = step(t, Answer::Neutral, now);
        assert_eq!(t.spacing, 2000 * MS, "a 404 says nothing");
        let t = step(t, Answer::Healthy(10 * MS), now);
        assert_eq!(t.spacing, 1250 * MS, "halfway back");
        let mut t = t;
        for _ in 0..20 {
            t = step(t, Answer::Healthy(MS), now);
        }
        assert_eq!(t.spacing, floor, "never faster than the budget");
    }

    #[test]
    fn a_slow_site_is_asked_less_often_and_retry_after_pauses_everyone() {
        let floor = 100 * MS;
        let now = Instant::now();
        let t = step(at(floor, floor), Answer::Healthy(900 * MS), now);
        assert_eq!(t.spacing, 500 * MS);
        let t = step(t, Answer::Struggling(Some(Duration::from_secs(3))), now);
        assert_eq!(t.paused_until, Some(now + Duration::from_secs(3)));
        let t = step(t, Answer::Struggling(Some(Duration::from_secs(1))), now);
        assert_eq!(
            t.paused_until,
            Some(now + Duration::from_secs(3)),
            "a shorter Retry-After never shortens a pause"
        );
        let capped = step(at(floor, MAX_SPACING), Answer::Struggling(None), now);
        assert_eq!(capped.spacing, MAX_SPACING);
        let mut t = at(floor, floor);
        for _ in 0..10 {
            t = step(t, Answer::Struggling(None), now);
        }
        assert_eq!(
            t.spacing,
            floor * ERROR_SLOWDOWN,
            "errors alone: 16 x the budget's"
        );
    }

    #[tokio::test]
    async fn turns_are_spaced_by_the_budget() {
        let pace = Pace::new(20.0, None);
        let start = std::time::Instant::now();
        for _ in 0..5 {
            pace.turn().await;
        }
        // Four gaps of 51 ms after the first turn, which is immediate.
        assert!(start.elapsed() >= 4 * 51 * MS, "{:?}", start.elapsed());
        let slow = Pace::new(1000.0, Some(Duration::from_millis(80)));
        assert_eq!(
            slow.spacing(),
            with_margin(80 * MS),
            "Crawl-delay when longer"
        );
        slow.at_least(120 * MS);
        assert_eq!(slow.spacing(), with_margin(120 * MS));
    }
}
