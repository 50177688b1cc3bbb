//! `robots.txt`, read for the daemon's user agent: which pages may be fetched (`Allow` /
//! `Disallow`, longest match wins, as Google's reference parser does: the `robotstxt` crate is
//! its port) and the `Crawl-delay` asked for. Pure: fetching it, and when, is the scraper's.
//!
//! What an answer means follows RFC 9309: a 2xx body is the rules; a 4xx (no file) allows
//! everything; a 5xx or an unreachable site means "assume everything disallowed", so a walk
//! without a readable `robots.txt` does not start (the last one read is kept instead, when
//! there is one).

use std::time::Duration;

use robotstxt::{DefaultMatcher, RobotsParseHandler};
use url::Url;

/// Longest `robots.txt` read (Google reads 500 KiB); the rest is ignored.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Longest `Crawl-delay` obeyed; a site asking for more gets this.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

/// The rules of one site's `robots.txt` for one user agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Robots {
    body: String,
    /// The product token matched against `User-agent:` lines (`bookstream`).
    agent: String,
    crawl_delay: Option<Duration>,
}

impl Robots {
    /// The rules of `body` for the user agent `user_agent` (its product token, the leading
    /// letters, `-` and `_`, is what `User-agent:` lines name).
    pub fn parse(body: &str, user_agent: &str) -> Robots {
        let mut body = body.to_owned();
        if body.len() > MAX_ROBOTS_BYTES {
            let mut cut = MAX_ROBOTS_BYTES;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        let agent = product_token(user_agent);
        let mut delays = Delays::new(&agent);
        robotstxt::parse_robotstxt(&body, &mut delays);
        Robots {
            crawl_delay: delays.result(),
            body,
            agent,
        }
    }

    /// No rules: a site without a `robots.txt` (a 4xx).
    pub fn allow_all(user_agent: &str) -> Robots {
        Robots::parse("", user_agent)
    }

    /// Whether `url` may be fetched.
    pub fn allows(&self, url: &Url) -> bool {
        DefaultMatcher::default().one_agent_allowed_by_robots(&self.body, &self.agent, url.as_str())
    }

    /// The `Crawl-delay` of the group that applies to us (ours, else `*`), capped at
    /// [`MAX_CRAWL_DELAY`].
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }
}

/// `bookstream/1.2 (+https://…)` -> `bookstream`.
fn product_token(user_agent: &str) -> String {
    user_agent
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '-' || *c == '_')
        .collect()
}

/// Collects the `Crawl-delay` of the group naming our agent, and of the `*` group.
struct Delays {
    agent: String,
    /// Whether the current group names us / `*`; a group is the `User-agent:` lines in a row.
    group: (bool, bool),
    in_agent_lines: bool,
    ours: Option<Duration>,
    any: Option<Duration>,
}

impl Delays {
    fn new(agent: &str) -> Delays {
        Delays {
            agent: agent.to_ascii_lowercase(),
            group: (false, false),
            in_agent_lines: false,
            ours: None,
            any: None,
        }
    }

    fn result(&self) -> Option<Duration> {
        self.ours.or(self.any).map(|d| d.min(MAX_CRAWL_DELAY))
    }

    fn rule(&mut self) {
        self.in_agent_lines = false;
    }
}

impl RobotsParseHandler for Delays {
    fn handle_robots_start(&mut self) {}
    fn handle_robots_end(&mut self) {}
    fn handle_user_agent(&mut self, _line: u32, user_agent: &str) {
        if !self.in_agent_lines {
            self.group = (false, false);
            self.in_agent_lines = true;
        }
        let token = product_token(user_agent.trim()).to_ascii_lowercase();
        if user_agent.trim_start().starts_with('*') {
            self.group.1 = true;
        } else if !token.is_empty() && token == self.agent {
            self.group.0 = true;
        }
    }
    fn handle_allow(&mut self, _line: u32, _value: &str) {
        self.rule();
    }
    fn handle_disallow(&mut self, _line: u32, _value: &str) {
        self.rule();
    }
    fn handle_sitemap(&mut self, _line: u32, _value: &str) {}
    fn handle_unknown_action(&mut self, _line: u32, action: &str, value: &str) {
        if !action.eq_ignore_ascii_case("crawl-delay") {
            return;
        }
        self.rule();
        let Some(delay) = value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_CRAWL_DELAY.as_secs_f64())))
        else {
            return;
        };
        if self.group.0 {
            self.ours = Some(delay);
        } else if self.group.1 {
            self.any = Some(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str = "bookstream/0.3 (+https://example.org/bot)";

    fn url(path: &str) -> Url {
        Url::parse("http://books.test").unwrap().join(path).unwrap()
    }

    #[test]
    fn the_longest_match_wins_between_allow_and_disallow() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /catalogue/\nAllow: /catalogue/page-\n",
            UA,
        );
        assert!(r.allows(&url("/catalogue/page-2.html")));
        assert!(!r.allows(&url("/catalogue/a-book_1/index.html")));
        assert!(r.allows(&url("/index.html")));
    }

    #[test]
    fn our_own_group_beats_the_star_group() {
        let text = "User-agent: *\nDisallow: /\nCrawl-delay: 9\n\n\
                    User-agent: other\nUser-agent: BookStream\nDisallow: /private/\nCrawl-delay: 1.5\n";
        let r = Robots::parse(text, UA);
        assert!(r.allows(&url("/catalogue/page-1.html")));
        assert!(!r.allows(&url("/private/x")));
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(1500)));
        let star = Robots::parse(text, "otherbot/1");
        assert!(!star.allows(&url("/catalogue/page-1.html")));
        assert_eq!(star.crawl_delay(), Some(Duration::from_secs(9)));
    }

    #[test]
    fn no_file_allows_everything_and_a_silly_delay_is_capped() {
        let r = Robots::allow_all(UA);
        assert!(r.allows(&url("/anything")));
        assert_eq!(r.crawl_delay(), None);
        let slow = Robots::parse("User-agent: *\nCrawl-delay: 86400\n", UA);
        assert_eq!(slow.crawl_delay(), Some(MAX_CRAWL_DELAY));
        let junk = Robots::parse("User-agent: *\nCrawl-delay: soon\n", UA);
        assert_eq!(junk.crawl_delay(), None);
    }
}
