//! The AWS edge: the one place that builds the SDK's configuration (credentials chain, region,
//! endpoint, timeouts, retries off) for Kinesis and CloudWatch alike, checks at start that the
//! chain finds a region and credentials ([`setup`]), and classifies every SDK error into an
//! [`ErrorKind`] that the callers match ([`error`]). Callers never read an error code, an HTTP
//! status or the error chain themselves.

mod error;
pub mod setup;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use url::Url;

/// Test helpers shared with the callers' tests (a credentials provider that times out).
#[cfg(test)]
pub(crate) use error::tests as test_support;
pub use error::{ErrorKind, classify, entry_kind};

/// How long a request may wait for its answer, unless the caller says otherwise (the paced
/// producer's PutRecord does: `kinesis::producer::attempt_budget`).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may take to open; a connection never made means nothing was sent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The timeouts with `attempt` for a whole attempt (the SDK's retries are off, so an attempt is
/// the whole operation). Given whole, also per request: an override replaces them.
pub fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt)
        .build()
}

/// The standard chain (the environment, `~/.aws/config` and `~/.aws/credentials`, the EC2
/// instance metadata service) with `region` if one is given, the SDK's retries off (every
/// caller retries itself, so that each attempt is logged and bounded) and [`timeouts`] of
/// [`ATTEMPT_TIMEOUT`].
fn loader(region: Option<&str>) -> ConfigLoader {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts(ATTEMPT_TIMEOUT));
    match region {
        Some(region) => loader.region(Region::new(region.to_owned())),
        None => loader,
    }
}

/// The configuration every client is built from: [`loader`], sent to `endpoint` when one is
/// given (a local server) instead of the AWS endpoint of the region.
pub async fn sdk_config(region: Option<&str>, endpoint: Option<&Url>) -> SdkConfig {
    let loader = loader(region);
    let loader = match endpoint {
        Some(endpoint) => loader.endpoint_url(endpoint.as_str().trim_end_matches('/')),
        None => loader,
    };
    loader.load().await
}

/// A Kinesis client on [`sdk_config`].
pub async fn kinesis(region: Option<&str>, endpoint: Option<&Url>) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(region, endpoint).await)
}

/// A CloudWatch client on [`sdk_config`].
pub async fn cloudwatch(
    region: Option<&str>,
    endpoint: Option<&Url>,
) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk_config(region, endpoint).await)
}

/// The endpoint as messages name it: the local server given, or `default` (e.g. "the AWS
/// endpoint").
pub fn describe_endpoint(endpoint: Option<&Url>, default: &str) -> String {
    endpoint.map_or_else(|| default.to_owned(), |u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn both_clients_get_the_region_the_endpoint_and_the_bounds_given() {
        let endpoint = Url::parse("http://127.0.0.1:4566/").unwrap();
        let conf = sdk_config(Some("eu-west-1"), Some(&endpoint)).await;
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(conf.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(conf.retry_config().map(|r| r.max_attempts()), Some(1));
        let t = conf.timeout_config().unwrap();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(ATTEMPT_TIMEOUT));
        let kinesis = kinesis(Some("eu-west-1"), Some(&endpoint)).await;
        let cloudwatch = cloudwatch(Some("eu-west-1"), Some(&endpoint)).await;
        assert_eq!(
            kinesis.config().region().map(|r| r.as_ref()),
            cloudwatch.config().region().map(|r| r.as_ref())
        );
        assert_eq!(
            describe_endpoint(None, "the AWS endpoint"),
            "the AWS endpoint"
        );
        assert_eq!(
            describe_endpoint(Some(&endpoint), "x"),
            "http://127.0.0.1:4566/"
        );
    }
}
