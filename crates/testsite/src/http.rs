//! The pure half of the test site's HTTP/1.1 server: parsing a request head, validators
//! (ETag, HTTP dates) and response heads. Kept apart from the socket code so each rule is
//! tested without a connection.

/// Longest request head accepted; real clients send well under 1 KiB.
pub(super) const MAX_HEAD: usize = 16 * 1024;

/// A parsed request line and its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Request {
    pub method: String,
    /// Request target as sent, in origin form (`/catalogue/page-2.html?x=1`).
    pub target: String,
    /// True for HTTP/1.1 (keep-alive by default), false for HTTP/1.0.
    pub http11: bool,
    pub headers: Vec<(String, String)>,
}

/// Why a request head could not be understood; the connection answers 400 and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeadError {
    NotUtf8,
    BadRequestLine,
    UnsupportedVersion,
    BadHeader,
}

impl Request {
    /// First header with this name, compared case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The target without query string or fragment, which is what pages are keyed by.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or_default()
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless the client says
    /// `Connection: close`, HTTP/1.0 only if it asks for keep-alive.
    pub fn keep_alive(&self) -> bool {
        let tokens = self.header("connection").unwrap_or_default();
        let has = |word: &str| {
            tokens
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(word))
        };
        if self.http11 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

/// Length of the head (through the blank line) at the start of `buf`, once it is complete.
pub(super) fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Parses a complete head as found by [`head_len`].
pub(super) fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::NotUtf8)?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::BadRequestLine);
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HeadError::UnsupportedVersion),
    };
    // Absolute form (`http://host/path`) is what a client sends through a proxy; keep the path.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None if target.starts_with('/') => target,
        None => return Err(HeadError::BadRequestLine),
    };
    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::BadHeader)?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(HeadError::BadHeader);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        http11,
        headers,
    })
}

/// Strong validator for a body: FNV-1a 64, quoted. Stable across runs and Rust versions,
/// unlike std's hasher, so saved ETags stay valid between test processes.
pub(super) fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// `If-None-Match` uses weak comparison: `*`, or any listed tag equal to ours once `W/` is
/// ignored.
pub(super) fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// IMF-fixdate (`Fri, 24 Jun 2016 09:29:00 GMT`) for seconds since the Unix epoch.
pub(super) fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days, for dates after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reason phrase for the statuses the server sends.
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        410 => "Gone",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, HeadError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn parses_request_line_and_headers_case_insensitively() {
        let head =
            "GET /catalogue/page-2.html?x=1 HTTP/1.1\r\nHost: a\r\nIF-NONE-MATCH: \"1\"\r\n\r\n";
        assert_eq!(head_len(head.as_bytes()), Some(head.len()));
        let request = parse(head).expect("valid head");
        assert_eq!(request.method, "GET");
        assert_eq!(request.path(), "/catalogue/page-2.html");
        assert_eq!(request.header("if-none-match"), Some("\"1\""));
        assert!(request.keep_alive());
    }

    #[test]
    fn connection_header_decides_keep_alive() {
        let close = parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").expect("valid");
        assert!(!close.keep_alive());
        let old = parse("GET / HTTP/1.0\r\n\r\n").expect("valid");
        assert!(!old.keep_alive());
        let old_kept = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").expect("valid");
        assert!(old_kept.keep_alive());
    }

    #[test]
    fn rejects_malformed_heads() {
        assert_eq!(parse("GET /\r\n\r\n"), Err(HeadError::BadRequestLine));
        assert_eq!(
            parse("GET / HTTP/2\r\n\r\n"),
            Err(HeadError::UnsupportedVersion)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
            Err(HeadError::BadHeader)
        );
        assert_eq!(
            parse("GET x HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadRequestLine)
        );
        let absolute = parse("GET http://h:1/index.html HTTP/1.1\r\n\r\n").expect("valid");
        assert_eq!(absolute.path(), "/index.html");
    }

    #[test]
    fn etags_compare_weakly_for_if_none_match() {
        let tag = etag(b"body");
        assert_eq!(tag, etag(b"body"));
        assert_ne!(tag, etag(b"other"));
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches(&format!("\"x\", W/{tag}"), &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"x\"", &tag));
    }

    #[test]
    fn formats_http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_466_760_540), "Fri, 24 Jun 2016 09:29:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
