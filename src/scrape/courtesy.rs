//! The scraper's manners: the request gate every walk shares, and the site's `robots.txt`,
//! read at most once a day (the rules and the gate themselves are pure, in `robots.rs` and
//! `budget.rs`).

use std::sync::Arc;

use tokio::time::Instant;
use url::Url;

use super::budget::Pace;
use super::fetch::{FetchError, Fetched};
use super::robots::Robots;
use super::{ROBOTS_MAX_AGE, ScrapeError, Scraper};
use crate::events::Event;
use crate::events::scrape::{RobotsKept, RobotsMissing, RobotsRead};

impl Scraper {
    /// The gate for a budget of `per_sec`: the one the last walk used, unless the budget
    /// changed.
    pub(super) fn pace(&self, per_sec: f64) -> Arc<Pace> {
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        match &*pace {
            Some((rate, gate)) if *rate == per_sec => Arc::clone(gate),
            _ => {
                let gate = Arc::new(Pace::new(per_sec, None));
                *pace = Some((per_sec, Arc::clone(&gate)));
                gate
            }
        }
    }

    /// The site's `robots.txt` rules: the last ones read when under [`ROBOTS_MAX_AGE`] old,
    /// else fetched again (through `pace`, like every request). No file (a 4xx) allows
    /// everything; one that cannot be read (5xx, network) keeps the last rules read, and
    /// without any stops the walk.
    pub(super) async fn robots(&self, site: &Url, pace: &Pace) -> Result<Arc<Robots>, ScrapeError> {
        let origin = site.origin().ascii_serialization();
        let known = {
            let robots = self.robots.lock().unwrap_or_else(|p| p.into_inner());
            robots.clone().filter(|(o, _, _)| *o == origin)
        };
        if let Some((_, at, rules)) = &known
            && at.elapsed() < ROBOTS_MAX_AGE
        {
            return Ok(Arc::clone(rules));
        }
        let url = site
            .join("/robots.txt")
            .map_err(|_| ScrapeError::SiteUrl(site.to_string()))?;
        let agent = self.fetcher.user_agent();
        let rules = match self.fetcher.get(&url, None, pace).await {
            Ok(Fetched::Body { bytes, .. }) => {
                let rules = Robots::parse(&String::from_utf8_lossy(&bytes), agent);
                RobotsRead {
                    url: &url,
                    crawl_delay_ms: rules.crawl_delay().map(|d| d.as_millis() as u64),
                }
                .emit();
                rules
            }
            Ok(Fetched::NotModified) => Robots::allow_all(agent),
            Err(FetchError::Status { status, .. }) if status.is_client_error() => {
                RobotsMissing { url: &url, status }.emit();
                Robots::allow_all(agent)
            }
            Err(e) => match known {
                Some((_, _, rules)) => {
                    RobotsKept {
                        url: &url,
                        error: &e,
                    }
                    .emit();
                    return Ok(rules);
                }
                None => return Err(ScrapeError::Robots(Box::new(e))),
            },
        };
        let rules = Arc::new(rules);
        let mut robots = self.robots.lock().unwrap_or_else(|p| p.into_inner());
        *robots = Some((origin, Instant::now(), Arc::clone(&rules)));
        Ok(rules)
    }
}
