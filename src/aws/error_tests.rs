//! The classification of real SDK errors: the real clients against servers on loopback that
//! answer as the services do (Kinesis's JSON error bodies from a tiny HTTP server here,
//! CloudWatch's CBOR ones from the test rig's endpoint), refuse, hang up or stay silent.

use std::time::Duration;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use bookstream_testsite::cloudwatch::{Answer, LocalCloudWatch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A client as the product's (retries off), with test credentials, to `endpoint` (also used by
/// the producer's tests in kinesis/outcome.rs, through `aws::test_support`).
pub(crate) async fn kinesis_to(endpoint: &str, attempt: Duration) -> aws_sdk_kinesis::Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
        .timeout_config(crate::aws::timeouts(attempt))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

/// One PutRecord of `{}` with key `k` to stream `s` through `client`, which must fail (also
/// used by the producer's tests in kinesis/outcome.rs).
pub(crate) async fn failed_put(
    client: &aws_sdk_kinesis::Client,
) -> aws_sdk_kinesis::error::SdkError<aws_sdk_kinesis::operation::put_record::PutRecordError> {
    client
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect_err("the put must fail")
}

/// One PutRecord with `client`, classified.
async fn put(client: &aws_sdk_kinesis::Client) -> AwsError {
    let err = failed_put(client).await;
    classify(&err)
}

/// Reads one HTTP request (head and `Content-Length` body) from `conn`; false at EOF.
async fn read_request(conn: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return true;
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A server on loopback that answers every request with `status`, `content_type` and `body`.
async fn answering(status: u16, content_type: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                while read_request(&mut conn).await {
                    let answer = format!(
                        "HTTP/1.1 {status} Answer\r\nContent-Type: {content_type}\r\nx-amzn-RequestId: r1\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A server on loopback that answers every request with `status` and Kinesis's JSON error
/// body for `code` (`{"__type": code, "message": ...}`, as Kinesis and moto send it).
async fn kinesis_refusing(status: u16, code: &'static str) -> String {
    let body = format!(r#"{{"__type":"{code}","message":"refused as {code}"}}"#);
    answering(status, "application/x-amz-json-1.1", body).await
}

#[tokio::test]
async fn each_kinesis_refusal_is_classified_by_its_code_and_status() {
    use ErrorKind::*;
    let cases = [
        (400, "ResourceNotFoundException", NotFound),
        (400, "ProvisionedThroughputExceededException", Throttled),
        (400, "KMSThrottlingException", Throttled),
        (400, "LimitExceededException", Throttled),
        (429, "TooManyRequests", Throttled),
        (500, "InternalFailure", Transient),
        (503, "ServiceUnavailable", Transient),
        (502, "BadGateway", Transient),
        (400, "AccessDeniedException", Denied),
        (400, "KMSAccessDeniedException", Denied),
        (400, "InvalidArgumentException", Invalid),
        (400, "ValidationException", Invalid),
        (400, "UnrecognizedClientException", Final),
        (400, "KMSDisabledException", Final),
    ];
    for (status, code, kind) in cases {
        let client = kinesis_to(
            &kinesis_refusing(status, code).await,
            Duration::from_secs(5),
        )
        .await;
        let e = put(&client).await;
        assert_eq!(e.kind, kind, "{status} {code}: {e:?}");
        assert_eq!(e.code.as_deref(), Some(code), "{e:?}");
        assert_eq!(e.status, Some(status), "{e:?}");
        assert!(e.answered());
        assert_eq!(e.message, format!("{code}: refused as {code}"));
        assert_eq!(
            kind.passes(),
            matches!(kind, Throttled | Transient),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn not_found_is_one_kind_for_every_kinesis_operation() {
    let client = kinesis_to(
        &kinesis_refusing(400, "ResourceNotFoundException").await,
        Duration::from_secs(5),
    )
    .await;
    let list = client
        .list_shards()
        .stream_name("s")
        .send()
        .await
        .unwrap_err();
    let records = client
        .put_records()
        .stream_name("s")
        .records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("k")
                .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(classify(&list).kind, ErrorKind::NotFound);
    assert_eq!(classify(&records).kind, ErrorKind::NotFound);
}

/// One PutMetricData with a client as the product's (retries off) to `endpoint`, classified.
async fn put_metric(endpoint: &str) -> AwsError {
    let client = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled())
            .endpoint_url(endpoint)
            .build(),
    );
    let err = client
        .put_metric_data()
        .namespace("n")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("m")
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .expect_err("the endpoint refuses");
    classify(&err)
}

#[tokio::test]
async fn each_cloudwatch_refusal_is_classified_as_kinesis_ones_are() {
    use ErrorKind::*;
    let cases = [
        (403, "AccessDenied", Denied),
        (400, "InvalidParameterValue", Invalid),
        (400, "MissingParameter", Invalid),
        (500, "InternalServiceFault", Transient),
        (400, "Throttling", Throttled),
        (404, "ResourceNotFound", NotFound),
        (400, "InvalidClientTokenId", Final),
    ];
    for (status, code, kind) in cases {
        let cw = LocalCloudWatch::start(Answer::Error(status, code.to_owned())).unwrap();
        let e = put_metric(&cw.endpoint()).await;
        assert_eq!(e.kind, kind, "{status} {code}: {e:?}");
        assert_eq!(
            (e.code.as_deref(), e.status),
            (Some(code), Some(status)),
            "{e:?}"
        );
    }
}

/// What a web server, a proxy or a load balancer answers in place of the service: a page of
/// HTML, no error code.
fn page(status: u16) -> String {
    format!("<html><body><h1>{status}</h1>not the service</body></html>")
}

#[tokio::test]
async fn an_answer_that_is_not_the_services_is_classified_by_its_status() {
    use ErrorKind::*;
    let cases = [
        // A wrong endpoint (the site's port, a path that is no API): refused again if sent again.
        (404, Final),
        // A proxy's refusal.
        (403, Final),
        // A load balancer's error page: the request did not get through; it passes.
        (502, Transient),
        (503, Transient),
        (429, Throttled),
        // A success whose body cannot be read: the record may have been written.
        (200, OutcomeUnknown),
    ];
    for (status, kind) in cases {
        let endpoint = answering(status, "text/html", page(status)).await;
        let e = put(&kinesis_to(&endpoint, Duration::from_secs(5)).await).await;
        assert_eq!(e.kind, kind, "Kinesis, HTTP {status}: {e:?}");
        assert_eq!((e.code.as_deref(), e.status), (None, Some(status)), "{e:?}");
        assert!(e.answered());
        assert!(
            e.message.starts_with(&format!(
                "HTTP {status} with an answer that is not the service's"
            )),
            "{e:?}"
        );
    }
    // CloudWatch's CBOR protocol, answered with HTML (as moto answers it): the same.
    for (status, kind) in [(404, Final), (502, Transient)] {
        let e = put_metric(&answering(status, "text/html", page(status)).await).await;
        assert_eq!(e.kind, kind, "CloudWatch, HTTP {status}: {e:?}");
        assert_eq!((e.code.as_deref(), e.status), (None, Some(status)), "{e:?}");
        assert!(
            e.message.starts_with(&format!("HTTP {status} with")),
            "{e:?}"
        );
    }
}

/// A listener that reads each request and then, after `hold`, hangs up without answering.
pub(crate) async fn silent_server(hold: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                read_request(&mut conn).await;
                tokio::time::sleep(hold).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_connection_never_made_passes_and_a_lost_or_late_answer_is_outcome_unknown() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let long = Duration::from_secs(5);
    let refused = put(&kinesis_to(&closed, long).await).await;
    assert_eq!(refused.kind, ErrorKind::Transient, "{refused:?}");
    assert!(!refused.answered());
    let hung_up = put(&kinesis_to(&silent_server(Duration::ZERO).await, long).await).await;
    assert_eq!(hung_up.kind, ErrorKind::OutcomeUnknown, "{hung_up:?}");
    let late = put(&kinesis_to(&silent_server(long).await, Duration::from_millis(300)).await).await;
    assert_eq!(late.kind, ErrorKind::OutcomeUnknown, "{late:?}");
    assert!(late.kind.passes() && !late.answered());
}

#[tokio::test]
async fn no_region_or_no_credentials_are_final_and_credentials_slow_to_come_pass() {
    let cases = [
        ("no region", no_region(), ErrorKind::Final),
        ("no credentials", no_credentials(), ErrorKind::Final),
        ("slow credentials", slow_credentials(), ErrorKind::Transient),
    ];
    for (name, conf, kind) in cases {
        let e = put(&aws_sdk_kinesis::Client::from_conf(conf)).await;
        assert_eq!(e.kind, kind, "{name}: {e:?}");
        assert!(!e.answered(), "{name}");
    }
}

/// A client's configuration with credentials and no region anywhere.
pub(crate) fn no_region() -> aws_sdk_kinesis::Config {
    aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build()
}

/// A client's configuration with a region and no credentials provider at all.
pub(crate) fn no_credentials() -> aws_sdk_kinesis::Config {
    aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build()
}

/// A client's configuration whose credentials provider times out, as the metadata service can
/// (also used by the producer's tests in kinesis/outcome.rs).
pub(crate) fn slow_credentials() -> aws_sdk_kinesis::Config {
    use aws_credential_types::provider::{self, error::CredentialsError, future};
    #[derive(Debug)]
    struct Slow;
    impl provider::ProvideCredentials for Slow {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::provider_timed_out(
                Duration::from_secs(5),
            )))
        }
    }
    aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(Slow)
        .build()
}
