//! Every SDK error, classified once: what it means for the request (not done and worth trying
//! again, perhaps done, never going to be done) whatever the service (Kinesis speaks JSON,
//! CloudWatch CBOR; both answer with an error code and an HTTP status) and whatever the
//! operation (the two clients share one `SdkError` type: the same smithy crates). The callers decide what to do by matching [`ErrorKind`]; none reads a code, a
//! status or the error chain itself.

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};

/// What an SDK error means for the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The resource (the stream) does not exist: create it, or check its name and region.
    NotFound,
    /// Refused for throughput (the shard's, KMS's, the API's rate): not done; it passes.
    Throttled,
    /// Not done, and it passes: a failure on the service's side (5xx), a connection that was
    /// never made, credentials that could not be fetched this time.
    Transient,
    /// The request left and no readable answer came (a timeout, a connection lost mid-way,
    /// a success whose body cannot be read): it may have been done.
    OutcomeUnknown,
    /// Not permitted (IAM, a key policy): not done until someone grants it.
    Denied,
    /// The request itself is refused as invalid (an argument, a value): sent again it would
    /// be refused again.
    Invalid,
    /// Anything else that trying again cannot change: a request that cannot be built (no
    /// region, no credentials), an endpoint that cannot be resolved, an unknown refusal.
    Final,
}

impl ErrorKind {
    /// Whether the same request may succeed if sent again.
    pub fn passes(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::OutcomeUnknown
        )
    }
}

/// An SDK error, classified, with what messages need of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub kind: ErrorKind,
    /// The service's error code (e.g. `ResourceNotFoundException`), when the service answered.
    pub code: Option<String>,
    /// The answer's HTTP status, when the service answered.
    pub status: Option<u16>,
    /// One line for a message: `Code: the service's message` for an answer, the whole error
    /// chain otherwise.
    pub message: String,
}

impl AwsError {
    /// Whether the service answered (a refusal), as opposed to the request failing on the
    /// way (never built, never connected, no answer).
    pub fn answered(&self) -> bool {
        self.status.is_some()
    }
}

/// Error codes, whatever the service (Kinesis, CloudWatch) and the protocol.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException", "ResourceNotFound"];
const THROTTLED: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
];
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "ServiceUnavailable",
    "InternalServiceFault",
    "InternalServiceError",
];
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "KMSAccessDeniedException",
];
const INVALID: &[&str] = &[
    "InvalidArgumentException",
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterCombination",
    "MissingParameter",
    "MissingRequiredParameter",
];

/// Classifies an error of any operation of either client.
pub fn classify<E>(err: &SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let unanswered = |kind| AwsError {
        kind,
        code: None,
        status: None,
        message: crate::error_chain(err),
    };
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code();
            let status = se.raw().status().as_u16();
            AwsError {
                kind: answer_kind(code, status),
                code: code.map(str::to_owned),
                status: Some(status),
                message: match code {
                    Some(code) => {
                        format!("{code}: {}", se.err().message().unwrap_or("no message"))
                    }
                    // An answer without the service's error code: not the service's answer
                    // (a wrong endpoint, a proxy's error page).
                    None => not_the_service(status, err),
                },
            }
        }
        // An answer whose body cannot be read as the service's. Its status still says what
        // became of the request: a success (it may have been done), a throttle or a failure
        // on the way (not done, it passes), or a refusal by whatever answered (a wrong
        // endpoint's 404, a proxy's 403: sent again, it is refused again).
        SdkError::ResponseError(re) => {
            let status = re.raw().status().as_u16();
            AwsError {
                kind: match status {
                    200..=299 => ErrorKind::OutcomeUnknown,
                    _ => answer_kind(None, status),
                },
                code: None,
                status: Some(status),
                message: not_the_service(status, err),
            }
        }
        // The request was never built (no region, no credentials): it never will be.
        SdkError::ConstructionFailure(_) => unanswered(ErrorKind::Final),
        SdkError::DispatchFailure(_) => unanswered(match http_error(err) {
            // The connection itself failed (DNS, refused, connect timeout): nothing was sent.
            Some(http) if http.is_connect() => ErrorKind::Transient,
            // The request left; the connection was lost before the answer.
            Some(_) => ErrorKind::OutcomeUnknown,
            // Credentials that exist but could not be fetched this time (the metadata
            // service slow, STS failing): that passes.
            None if credentials_may_come(err) => ErrorKind::Transient,
            // It never reached the HTTP client: no endpoint (no region), no identity.
            None => ErrorKind::Final,
        }),
        // A timeout after the request left, before any answer.
        _ => unanswered(ErrorKind::OutcomeUnknown),
    }
}

/// The message for an answer with `status` that is not the service's own.
fn not_the_service(status: u16, err: &dyn std::error::Error) -> String {
    format!(
        "HTTP {status} with an answer that is not the service's (is the endpoint right?): {}",
        crate::error_chain(err)
    )
}

/// What an entry's error code in a successful answer means (PutRecords answers 200 and
/// names each failed entry's code, e.g. `ProvisionedThroughputExceededException`).
pub fn entry_kind(code: &str) -> ErrorKind {
    answer_kind(Some(code), 200)
}

/// What the service's answer with `code` and `status` means.
fn answer_kind(code: Option<&str>, status: u16) -> ErrorKind {
    let is = |codes: &[&str]| code.is_some_and(|c| codes.contains(&c));
    if is(NOT_FOUND) {
        ErrorKind::NotFound
    } else if is(THROTTLED) || status == 429 {
        ErrorKind::Throttled
    } else if is(TRANSIENT) || status >= 500 {
        ErrorKind::Transient
    } else if is(DENIED) {
        ErrorKind::Denied
    } else if is(INVALID) {
        ErrorKind::Invalid
    } else {
        ErrorKind::Final
    }
}

/// Whether the chain holds a credentials error that can pass (a timeout, a provider failing),
/// as opposed to credentials not found or misconfigured.
fn credentials_may_come(err: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return matches!(
                c,
                CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_)
            );
        }
        source = e.source();
    }
    false
}

/// The HTTP client's own error in the chain, if the request got that far.
fn http_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a hyper_util::client::legacy::Error> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            return Some(http);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
#[path = "error_tests.rs"]
pub(crate) mod tests;
