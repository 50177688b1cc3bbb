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
use aws_sdk_kinesis::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{ConnectorBuilder, tls};
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
        .http_client(https_client())
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts(ATTEMPT_TIMEOUT));
    match region {
        Some(region) => loader.region(Region::new(region.to_owned())),
        None => loader,
    }
}

/// The HTTPS client every AWS client of the process shares (the credentials chain's calls to the
/// instance metadata service and STS, Kinesis, CloudWatch): the one the SDK builds by default
/// (rustls with aws-lc, the system's root certificates, `HTTPS_PROXY`/`NO_PROXY` from the
/// environment), made once. Left to the SDK, each service client makes its own, with its own
/// connection pool and its own parsed copy of the root store.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The SDK's configuration of a process: the standard chain's region and credentials (with
/// their cache), retries off, [`timeouts`] of [`ATTEMPT_TIMEOUT`]. Loaded once and shared by
/// every client built from it (Kinesis and CloudWatch alike), each with its own endpoint: one
/// credentials chain, one cache, and on EC2 one set of calls to the instance metadata service.
#[derive(Debug, Clone)]
pub struct Aws {
    sdk: SdkConfig,
    /// The region it was asked for (`None`: the chain's own).
    asked: Option<String>,
}

impl Aws {
    /// Loads the chain with `region` if one is given.
    pub async fn load(region: Option<&str>) -> Aws {
        Aws {
            sdk: loader(region).load().await,
            asked: region.map(str::to_owned),
        }
    }

    /// Whether it was loaded for `region` (as configured: `None` is the chain's own).
    pub fn serves(&self, region: Option<&str>) -> bool {
        self.asked.as_deref() == region
    }

    /// The configuration itself (for [`setup::check`]).
    fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// A Kinesis client, sent to `endpoint` when one is given (a local server) instead of the
    /// AWS endpoint of the region.
    pub fn kinesis(&self, endpoint: Option<&Url>) -> aws_sdk_kinesis::Client {
        let mut conf = aws_sdk_kinesis::config::Builder::from(&self.sdk);
        if let Some(endpoint) = endpoint {
            conf.set_endpoint_url(Some(endpoint_text(endpoint)));
        }
        aws_sdk_kinesis::Client::from_conf(conf.build())
    }

    /// A CloudWatch client, sent to `endpoint` when one is given.
    pub fn cloudwatch(&self, endpoint: Option<&Url>) -> aws_sdk_cloudwatch::Client {
        let mut conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk);
        if let Some(endpoint) = endpoint {
            conf.set_endpoint_url(Some(endpoint_text(endpoint)));
        }
        aws_sdk_cloudwatch::Client::from_conf(conf.build())
    }
}

/// An endpoint as the SDK takes it: without the trailing slash `Url` writes.
fn endpoint_text(endpoint: &Url) -> String {
    endpoint.as_str().trim_end_matches('/').to_owned()
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
    async fn both_clients_share_the_region_and_the_bounds_each_with_its_endpoint() {
        let listen = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (kinesis_side, cloudwatch_side) = (listen(), listen());
        let url = |l: &std::net::TcpListener| {
            Url::parse(&format!("http://{}/", l.local_addr().unwrap())).unwrap()
        };
        let (endpoint, other) = (url(&kinesis_side), url(&cloudwatch_side));
        // The product's chain, with test credentials in front so that the requests go out.
        let aws = Aws {
            sdk: loader(Some("eu-west-1"))
                .credentials_provider(aws_credential_types::Credentials::for_tests())
                .load()
                .await,
            asked: Some("eu-west-1".to_owned()),
        };
        assert!(aws.serves(Some("eu-west-1")) && !aws.serves(None));
        let conf = aws.sdk();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(conf.retry_config().map(|r| r.max_attempts()), Some(1));
        assert!(
            conf.http_client().is_some(),
            "one HTTPS client for every client"
        );
        let t = conf.timeout_config().unwrap();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(ATTEMPT_TIMEOUT));
        let kinesis = aws.kinesis(Some(&endpoint));
        let cloudwatch = aws.cloudwatch(Some(&other));
        for (region, retries, attempt) in [
            (
                kinesis.config().region(),
                kinesis.config().retry_config(),
                kinesis.config().timeout_config(),
            ),
            (
                cloudwatch.config().region(),
                cloudwatch.config().retry_config(),
                cloudwatch.config().timeout_config(),
            ),
        ] {
            assert_eq!(region.map(|r| r.as_ref()), Some("eu-west-1"));
            assert_eq!(retries.map(|r| r.max_attempts()), Some(1));
            assert_eq!(
                attempt.and_then(|t| t.operation_attempt_timeout()),
                Some(ATTEMPT_TIMEOUT)
            );
        }
        // Each client goes to its own endpoint: each listener is called.
        let _ =
            tokio::time::timeout(Duration::from_millis(500), kinesis.list_streams().send()).await;
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            cloudwatch.list_dashboards().send(),
        )
        .await;
        for (listener, endpoint) in [(&kinesis_side, &endpoint), (&cloudwatch_side, &other)] {
            listener.set_nonblocking(true).unwrap();
            assert!(listener.accept().is_ok(), "nothing came to {endpoint}");
        }
        assert_eq!(
            describe_endpoint(None, "the AWS endpoint"),
            "the AWS endpoint"
        );
        assert_eq!(
            describe_endpoint(Some(&endpoint), "x"),
            format!("http://{}/", kinesis_side.local_addr().unwrap())
        );
    }
}
