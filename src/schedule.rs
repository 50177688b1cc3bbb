//! The cron schedule, parsed the way tokio-cron-scheduler parses it (6 fields, seconds first,
//! UTC), so that the daemon can compute each cycle's slot end as a pure function.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed 6-field cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
}

/// A cron expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "expected a 6-field cron expression (sec min hour day month weekday), e.g. \"0 * * * * *\"; got \"{expr}\": {reason}"
)]
pub struct ScheduleError {
    expr: String,
    reason: String,
}

impl Schedule {
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let err = |reason: String| ScheduleError {
            expr: expr.to_owned(),
            reason,
        };
        if expr.split_whitespace().count() != 6 {
            return Err(err(format!("{} fields", expr.split_whitespace().count())));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            expr: expr.to_owned(),
            cron,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_minute_ticks_at_second_zero() {
        let s = Schedule::parse("0 * * * * *").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T12:04:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = s.next_after(t).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-01-01T12:05:00+00:00");
        assert_eq!(
            s.next_after(next).unwrap().to_rfc3339(),
            "2026-01-01T12:06:00+00:00"
        );
    }

    #[test]
    fn five_field_and_garbage_expressions_are_rejected() {
        assert!(Schedule::parse("* * * * *").is_err());
        assert!(Schedule::parse("0 * * * * * *").is_err());
        assert!(Schedule::parse("0 99 * * * *").is_err());
    }
}
