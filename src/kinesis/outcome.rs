//! What a failed PutRecord attempt means for the record: surely not written (a refused
//! connection, a throttle, a 5xx: try again), perhaps written (the request left and no readable
//! answer came in time: the outcome is unknown, and another attempt may make a copy), or never
//! going to be written by trying again (a missing stream, a refusal, a request that cannot be
//! built, e.g. for want of a region); and the errors a put ends with, [`PutError`].

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_record::PutRecordError;

use crate::aws::ErrorKind;

use super::producer::MAX_RECORD_BYTES;

/// A put that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(
        "Kinesis stream `{stream}` not found at {endpoint} (create it, or check [kinesis] stream_name and region)"
    )]
    StreamNotFound { stream: String, endpoint: String },
    #[error(
        "record {label} is {bytes} bytes with its partition key; a Kinesis record holds at most {MAX_RECORD_BYTES} (1 MiB)"
    )]
    TooLarge { label: String, bytes: usize },
    #[error("Kinesis refused record {label} for stream `{stream}` as invalid: {message}")]
    Invalid {
        stream: String,
        label: String,
        message: String,
    },
    #[error("Kinesis rejected the put to stream `{stream}` at {endpoint}: {message}")]
    Rejected {
        stream: String,
        endpoint: String,
        message: String,
    },
    #[error("PutRecord to `{stream}` at {endpoint} failed {attempts} times; last error: {message}")]
    Exhausted {
        stream: String,
        endpoint: String,
        attempts: u32,
        unknown: u32,
        message: String,
    },
    #[error("shutdown requested while retrying a put to `{stream}`")]
    Interrupted { stream: String, unknown: u32 },
    #[error(
        "the slot ended while retrying a put to `{stream}` ({attempts} attempt(s), last error: {message}); the record carries over to the next cycle"
    )]
    SlotOver {
        stream: String,
        attempts: u32,
        unknown: u32,
        message: String,
    },
    #[error(
        "record {label} was sent to `{stream}` twice and neither answer came ({message}): it may be in the stream once, twice, or not at all, so it is not sent again"
    )]
    Unconfirmed {
        stream: String,
        label: String,
        attempts: u32,
        message: String,
    },
    #[error(
        "cannot build a PutRecord request for `{stream}`: {message} (is an AWS region set, and are credentials available?)"
    )]
    Setup { stream: String, message: String },
}

impl PutError {
    /// Attempts made before giving up (1 for errors that are never retried).
    pub fn attempts(&self) -> u32 {
        match self {
            PutError::Exhausted { attempts, .. }
            | PutError::SlotOver { attempts, .. }
            | PutError::Unconfirmed { attempts, .. } => *attempts,
            _ => 1,
        }
    }

    /// Attempts whose outcome stayed unknown: the record may be in the stream that many times
    /// (beyond any acknowledged copy).
    pub fn unknown_outcomes(&self) -> u32 {
        match self {
            PutError::Exhausted { unknown, .. }
            | PutError::SlotOver { unknown, .. }
            | PutError::Interrupted { unknown, .. } => *unknown,
            PutError::Unconfirmed { .. } => 2,
            _ => 0,
        }
    }

    /// Whether the record itself can never be accepted (too large, or refused as invalid), as
    /// opposed to the stream, the credentials or the network being at fault: such a record is
    /// set aside, and the ones after it go on.
    pub fn is_record_fault(&self) -> bool {
        matches!(self, PutError::TooLarge { .. } | PutError::Invalid { .. })
    }
}

/// One attempt's failure, classified.
#[derive(Debug)]
pub(super) enum Failure {
    /// Not written; another attempt may succeed.
    Retry(String),
    /// The request left and no readable answer came (a timeout, a connection lost mid-way, an
    /// unreadable response): the record may be in the stream.
    Unknown(String),
    /// Trying again cannot help.
    Fatal(PutError),
}

/// Where a put went, for the errors' messages.
pub(super) struct Target<'a> {
    pub stream: &'a str,
    pub endpoint: &'a str,
    pub label: &'a str,
}

/// What a failed attempt means for the record, from the AWS edge's [`ErrorKind`]: a throttle
/// or a transient failure was not written; an unknown outcome may have been; a refusal of the
/// record itself ([`ErrorKind::Invalid`]) sets the record aside, any other refusal (a missing
/// stream, access denied, KMS, an unknown code) is about the account or the stream and stops
/// the put, as does a request that was never built.
pub(super) fn classify(err: SdkError<PutRecordError>, to: &Target<'_>) -> Failure {
    let e = crate::aws::classify(&err);
    let stream = to.stream.to_owned();
    match e.kind {
        ErrorKind::NotFound => Failure::Fatal(PutError::StreamNotFound {
            stream,
            endpoint: to.endpoint.to_owned(),
        }),
        ErrorKind::Throttled | ErrorKind::Transient => Failure::Retry(match e.status {
            Some(status) => format!("{} (HTTP {status})", e.code.as_deref().unwrap_or("error")),
            None => e.message,
        }),
        ErrorKind::OutcomeUnknown => Failure::Unknown(e.message),
        ErrorKind::Invalid => Failure::Fatal(PutError::Invalid {
            stream,
            label: to.label.to_owned(),
            message: e.message,
        }),
        ErrorKind::Denied | ErrorKind::Final if e.answered() => {
            Failure::Fatal(PutError::Rejected {
                stream,
                endpoint: to.endpoint.to_owned(),
                message: e.message,
            })
        }
        // Never sent: no region, no credentials; it never will be.
        ErrorKind::Denied | ErrorKind::Final => Failure::Fatal(PutError::Setup {
            stream,
            message: e.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::aws::test_support::{
        failed_put, kinesis_to, no_credentials, no_region, silent_server, slow_credentials,
    };

    use super::*;

    /// One PutRecord with `client`, classified as the producer does.
    async fn put_with(client: &aws_sdk_kinesis::Client) -> Failure {
        let err = failed_put(client).await;
        let to = Target {
            stream: "s",
            endpoint: "here",
            label: "r",
        };
        classify(err, &to)
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent_and_a_lost_or_late_answer_is_unknown() {
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let long = Duration::from_secs(5);
        let refused = put_with(&kinesis_to(&closed, long).await).await;
        assert!(matches!(refused, Failure::Retry(_)), "{refused:?}");
        let hung_up = put_with(&kinesis_to(&silent_server(Duration::ZERO).await, long).await).await;
        assert!(matches!(hung_up, Failure::Unknown(_)), "{hung_up:?}");
        let quick = Duration::from_millis(300);
        let late = put_with(&kinesis_to(&silent_server(long).await, quick).await).await;
        assert!(matches!(late, Failure::Unknown(_)), "{late:?}");
    }

    #[tokio::test]
    async fn no_region_or_no_credentials_is_final_and_credentials_slow_to_come_are_retried() {
        let cases = [
            (no_region(), true),
            (no_credentials(), true),
            (slow_credentials(), false),
        ];
        for (conf, fatal) in cases {
            match put_with(&aws_sdk_kinesis::Client::from_conf(conf)).await {
                Failure::Fatal(PutError::Setup { .. }) if fatal => {}
                Failure::Retry(_) if !fatal => {}
                other => panic!("fatal: {fatal}, got {other:?}"),
            }
        }
    }
}
