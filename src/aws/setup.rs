//! The start-up check of the AWS set-up: does the standard chain (the arguments, the
//! environment, `~/.aws/config` and `~/.aws/credentials`, the EC2 instance metadata service)
//! give a region and credentials at all? Without a region every request fails before it is
//! sent, and without credentials every request fails to be signed; either way nothing will
//! ever be sent, so the commands stop at start naming what is missing (exit 78) instead of
//! retrying as if the network were down. The CloudWatch metrics use the same chain and region,
//! so the check covers them too. Bounded in time: the metadata service may not answer.

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;

/// How long fetching the credentials may take.
const CHECK_WITHIN: Duration = Duration::from_secs(10);

/// What the chain did not find.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "no AWS region is configured: set {option}, or the environment variable AWS_REGION, or `region` under profile `{profile}` in ~/.aws/config (AWS_CONFIG_FILE names another file); only on EC2 does the instance's own region apply by itself"
    )]
    NoRegion { option: String, profile: String },
    #[error(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile `{profile}` in ~/.aws/credentials or ~/.aws/config (AWS_PROFILE picks another), or run on EC2 with an instance role; the chain said: {detail}"
    )]
    NoCredentials { profile: String, detail: String },
}

/// Checks that `aws` (the chain loaded for the region given in config or an argument) found a
/// region and credentials; `option` is how the caller's user sets the region (e.g.
/// "`[kinesis] region` in FILE"). Credentials that exist but cannot be fetched right now (the
/// metadata service slow, STS failing) are only a warning: that can pass, and the puts retry;
/// credentials not found, or set up wrongly (a profile that names no source), are the error.
pub async fn check(aws: &super::Aws, option: &str) -> Result<(), SetupError> {
    let conf = aws.sdk();
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
    if conf.region().is_none() {
        return Err(SetupError::NoRegion {
            option: option.to_owned(),
            profile,
        });
    }
    let Some(credentials) = conf.credentials_provider() else {
        return Err(SetupError::NoCredentials {
            profile,
            detail: "no credentials provider".to_owned(),
        });
    };
    match tokio::time::timeout(CHECK_WITHIN, credentials.provide_credentials()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(
            e @ (CredentialsError::CredentialsNotLoaded(_)
            | CredentialsError::InvalidConfiguration(_)),
        )) => Err(SetupError::NoCredentials {
            profile,
            // One line: the chain lists what it tried one per line.
            detail: crate::error_chain(&e)
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" "),
        }),
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::error_chain(&e), "AWS credentials cannot be fetched now ({}); starting anyway, the puts retry", crate::error_chain(&e));
            Ok(())
        }
        Err(_) => {
            tracing::warn!(
                "AWS credentials not fetched within {} s; starting anyway, the puts retry",
                CHECK_WITHIN.as_secs()
            );
            Ok(())
        }
    }
}
