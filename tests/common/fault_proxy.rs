//! A fault-injecting HTTP/1.1 proxy in front of the Kinesis emulator.
//!
//! moto never fails, yet the producer's whole retry story (throttling, 5xx, a response lost
//! after the record was written) needs failures to be tested. This proxy sits between the
//! AWS SDK and moto_server and, following a [`FaultPlan`], answers some `PutRecord` calls
//! itself with the errors Kinesis really sends, delays others, or forwards a call and then
//! hangs up without answering, so the record exists upstream while the client saw a failure.
//! A `PutRecords` call can also partly fail ([`Fault::FailEntries`]): some entries come back
//! with `ProvisionedThroughputExceededException` inside a 200, and only the others are written.
//! [`Fault::ShardLimits`] throttles like Kinesis: per shard, by the records and bytes of the
//! last second.
//!
//! Writes reach moto one at a time (see `Shared::writes`): tests that keep several
//! PutRecords in flight go through this proxy even without faults.
//!
//! Every other request (CreateStream, DescribeStreamSummary, GetRecords, ...) is forwarded
//! untouched, so tests can set up and read back the stream through the same endpoint.
//! Each forwarded request uses a fresh upstream connection, which keeps the proxy independent
//! of the upstream's keep-alive behaviour; client connections are kept alive.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest message head accepted in either direction.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted in either direction (Kinesis caps a PutRecords call at 5 MiB).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// JSON protocol media type of the Kinesis API.
const AMZ_JSON: &str = "application/x-amz-json-1.1";
/// moto's default account, named in the error messages of failed entries.
const ACCOUNT: &str = "123456789012";

/// Which requests to disturb, and how.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Only requests whose `X-Amz-Target` ends with this (e.g. "PutRecord", which does not
    /// match "PutRecords") are matched; others are always forwarded. Empty matches all.
    pub target: String,
    /// Applied in order to the 1st, 2nd, ... matching request; once exhausted, matching
    /// requests are forwarded normally. A [`Fault::Repeat`] never runs out.
    pub faults: Vec<Fault>,
}

impl FaultPlan {
    pub fn new(target: &str, faults: impl Into<Vec<Fault>>) -> FaultPlan {
        FaultPlan {
            target: target.to_string(),
            faults: faults.into(),
        }
    }

    /// Applies `fault` to every matching request, however many there are.
    pub fn repeat(target: &str, fault: Fault) -> FaultPlan {
        FaultPlan::new(target, [Fault::Repeat(Box::new(fault))])
    }

    /// The fault for the matching request number `index` (from 0): the listed one, or the
    /// first [`Fault::Repeat`]'s from its position on, or `Pass` past the end of the list.
    fn fault_for(&self, index: usize) -> Fault {
        for (at, fault) in self.faults.iter().enumerate() {
            if let Fault::Repeat(inner) = fault {
                return inner.unrepeated();
            }
            if at == index {
                return fault.clone();
            }
        }
        Fault::Pass
    }
}

/// What happens to one matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward normally.
    Pass,
    /// 400 `ProvisionedThroughputExceededException`, which the SDK treats as throttling.
    Throttle,
    /// 500 `InternalFailure`.
    InternalFailure,
    /// 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// Forward (so the record IS written), then close the client connection without
    /// answering: the client cannot know whether its write happened.
    DropResponse,
    /// 400 with this error type (`InvalidArgumentException`, `AccessDeniedException`, ...),
    /// as Kinesis answers a request it refuses; nothing is written.
    Reject(&'static str),
    /// Forward after this delay. The request is forwarded even if the client gave up in the
    /// meantime, as a slow server would still process it.
    Delay(Duration),
    /// Forward at once (so the record IS written), then answer after this delay: a Kinesis
    /// that stores the record but acknowledges it late. The answer goes to a client that may
    /// have given up meanwhile. Counted in [`ProxyStats::delayed`].
    DelayResponse(Duration),
    /// For a `PutRecords` call: fail the entries whose number, counted from 1 across every
    /// entry this fault has examined in this proxy (all requests), is a multiple of `one_in`
    /// (so a call of at least `one_in` entries always has a failure; 0 fails none). Only the
    /// passing entries are forwarded, and none is when all fail. The client gets a 200 whose
    /// `Records` keep its order: upstream's `SequenceNumber`/`ShardId` for passing entries,
    /// `ProvisionedThroughputExceededException` for failed ones, as Kinesis reports a partial
    /// failure. An upstream answer other than 200 is passed through unchanged; a request that
    /// is not a readable `PutRecords` call is forwarded untouched.
    FailEntries { one_in: u32 },
    /// Kinesis's per-shard write limits, enforced over a sliding second: a shard takes at most
    /// `records_per_sec` records and `bytes_per_sec` bytes (data plus partition key) in any one
    /// second. The shard of an entry is found as Kinesis finds it (MD5 of the partition key, or
    /// the ExplicitHashKey, into the hash-key ranges of upstream's open shards from ListShards,
    /// read again every 2 s), independently of the product's own map. A `PutRecords` entry past
    /// a limit comes back with `ProvisionedThroughputExceededException` inside a 200 (only the
    /// others are forwarded, as with [`Fault::FailEntries`]); a `PutRecord` past it gets a 400.
    /// Other calls are forwarded. [`Fault::kinesis_limits`] has AWS's figures.
    ShardLimits {
        records_per_sec: u32,
        bytes_per_sec: u64,
    },
    /// Applies the inner fault to this and every later matching request (faults listed after
    /// it are never reached). See [`FaultPlan::repeat`].
    Repeat(Box<Fault>),
}

impl Fault {
    /// [`Fault::ShardLimits`] at AWS's limits: 1,000 records and 1 MiB per shard per second.
    pub fn kinesis_limits() -> Fault {
        Fault::ShardLimits {
            records_per_sec: 1000,
            bytes_per_sec: 1024 * 1024,
        }
    }

    /// The fault itself, without any [`Fault::Repeat`] around it.
    fn unrepeated(&self) -> Fault {
        match self {
            Fault::Repeat(inner) => inner.unrepeated(),
            other => other.clone(),
        }
    }
}

/// What the proxy did, for assertions.
#[derive(Debug, Default)]
pub struct ProxyStats {
    requests: AtomicU64,
    matched: AtomicU64,
    forwarded: AtomicU64,
    throttled: AtomicU64,
    internal_failures: AtomicU64,
    unavailable: AtomicU64,
    dropped: AtomicU64,
    delayed: AtomicU64,
    rejected: AtomicU64,
    entries_seen: AtomicU64,
    failed_entries: AtomicU64,
    partial_failures: AtomicU64,
    upstream_errors: AtomicU64,
    over_limit: AtomicU64,
    within_limit: AtomicU64,
}

impl ProxyStats {
    /// All requests received, matching or not.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// Requests whose target matched the plan (each consumes one fault, if any are left).
    pub fn matched(&self) -> u64 {
        self.matched.load(Ordering::SeqCst)
    }
    /// Requests sent upstream (including dropped and delayed ones).
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::SeqCst)
    }
    pub fn internal_failures(&self) -> u64 {
        self.internal_failures.load(Ordering::SeqCst)
    }
    pub fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::SeqCst)
    }
    /// Responses withheld by [`Fault::DropResponse`].
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }
    pub fn delayed(&self) -> u64 {
        self.delayed.load(Ordering::SeqCst)
    }
    /// Requests answered by [`Fault::Reject`].
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::SeqCst)
    }
    /// `PutRecords` entries examined by [`Fault::FailEntries`]; the count that picks which fail.
    pub fn entries_seen(&self) -> u64 {
        self.entries_seen.load(Ordering::SeqCst)
    }
    /// Entries answered with `ProvisionedThroughputExceededException` by [`Fault::FailEntries`]
    /// (never written upstream).
    pub fn failed_entries(&self) -> u64 {
        self.failed_entries.load(Ordering::SeqCst)
    }
    /// `PutRecords` calls answered with at least one failed entry by [`Fault::FailEntries`].
    pub fn partial_failures(&self) -> u64 {
        self.partial_failures.load(Ordering::SeqCst)
    }
    /// Forwards that failed (upstream unreachable or broken, or an unreadable `PutRecords`
    /// answer under [`Fault::FailEntries`]); the client got a 502.
    pub fn upstream_errors(&self) -> u64 {
        self.upstream_errors.load(Ordering::SeqCst)
    }
    /// Entries (of `PutRecords` or `PutRecord`) refused by [`Fault::ShardLimits`].
    pub fn over_limit(&self) -> u64 {
        self.over_limit.load(Ordering::SeqCst)
    }
    /// Entries [`Fault::ShardLimits`] let through.
    pub fn within_limit(&self) -> u64 {
        self.within_limit.load(Ordering::SeqCst)
    }
    /// Requests disturbed by a fault (everything but [`Fault::Pass`] and plan exhaustion).
    /// Counts requests, not entries: a partly failed `PutRecords` call counts once (see
    /// [`ProxyStats::partial_failures`]; its entries are in [`ProxyStats::failed_entries`]).
    pub fn injected(&self) -> u64 {
        self.throttled()
            + self.internal_failures()
            + self.unavailable()
            + self.dropped()
            + self.delayed()
            + self.rejected()
            + self.partial_failures()
    }
}

/// Starts the proxy on 127.0.0.1 (free port) in front of `upstream`; it runs until the test's
/// runtime shuts down. Point the SDK's endpoint URL at `http://{returned address}`.
pub async fn spawn(
    upstream: SocketAddr,
    plan: FaultPlan,
) -> io::Result<(SocketAddr, Arc<ProxyStats>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(ProxyStats::default());
    let shared = Arc::new(Shared {
        upstream,
        plan,
        stats: Arc::clone(&stats),
        writes: tokio::sync::Mutex::new(()),
        shard_windows: Mutex::default(),
    });
    tokio::spawn(async move {
        loop {
            // A failed accept concerns one connection; the proxy keeps going.
            if let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                tokio::spawn(client_connection(client, Arc::clone(&shared)));
            }
        }
    });
    Ok((addr, stats))
}

struct Shared {
    upstream: SocketAddr,
    plan: FaultPlan,
    stats: Arc<ProxyStats>,
    /// Held while a write is forwarded: moto's `Shard.put_record` is "not safe for concurrency"
    /// (its own comment): two puts at once can get the same sequence number and one record
    /// silently replaces the other; a reshard moves records while a put runs. Kinesis has no such flaw, so the proxy hands moto one
    /// write at a time while clients keep several requests in flight.
    writes: tokio::sync::Mutex<()>,
    /// [`Fault::ShardLimits`]: each stream's shard map and each shard's last second.
    shard_windows: Mutex<ShardWindows>,
}

/// One HTTP message with its body already de-framed.
struct Message {
    /// Request line or status line.
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The status code of a response.
    fn status(&self) -> Option<u16> {
        self.start.split(' ').nth(1)?.parse().ok()
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// Serialises with a Content-Length body and our own connection handling.
    fn to_bytes(&self, connection: &str) -> Vec<u8> {
        let mut head = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            if !is_hop_by_hop(name) && !name.eq_ignore_ascii_case("content-length") {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Headers that describe one connection and must not be passed through a proxy.
fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ]
    .iter()
    .any(|hop| name.eq_ignore_ascii_case(hop))
}

async fn client_connection(mut client: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    // Any error ends this connection only; the client sees it closed.
    while let Ok(Some(request)) = read_request(&mut client, &mut buf).await {
        let keep_alive =
            !request.has_token("connection", "close") && !request.start.ends_with("HTTP/1.0");
        let Some(response) = handle(&shared, &request).await else {
            return;
        };
        let connection = if keep_alive { "keep-alive" } else { "close" };
        if client
            .write_all(&response.to_bytes(connection))
            .await
            .is_err()
            || !keep_alive
        {
            return;
        }
    }
}

/// The response to send, or `None` to hang up without one.
async fn handle(shared: &Shared, request: &Message) -> Option<Message> {
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let target = request.header("x-amz-target").unwrap_or_default();
    let fault = if target.ends_with(&shared.plan.target) {
        let index = stats.matched.fetch_add(1, Ordering::SeqCst) as usize;
        shared.plan.fault_for(index)
    } else {
        Fault::Pass
    };
    match fault {
        Fault::Pass => Some(forward(shared, request).await),
        Fault::Throttle => {
            stats.throttled.fetch_add(1, Ordering::SeqCst);
            Some(aws_error(
                400,
                "ProvisionedThroughputExceededException",
                Some("Rate exceeded for shard"),
            ))
        }
        Fault::InternalFailure => {
            stats.internal_failures.fetch_add(1, Ordering::SeqCst);
            Some(aws_error(500, "InternalFailure", None))
        }
        Fault::ServiceUnavailable => {
            stats.unavailable.fetch_add(1, Ordering::SeqCst);
            Some(aws_error(503, "ServiceUnavailable", None))
        }
        Fault::Reject(kind) => {
            stats.rejected.fetch_add(1, Ordering::SeqCst);
            Some(aws_error(400, kind, Some("refused by the fault proxy")))
        }
        Fault::DropResponse => {
            stats.dropped.fetch_add(1, Ordering::SeqCst);
            forward(shared, request).await;
            None
        }
        Fault::Delay(delay) => {
            stats.delayed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Some(forward(shared, request).await)
        }
        Fault::DelayResponse(delay) => {
            stats.delayed.fetch_add(1, Ordering::SeqCst);
            let response = forward(shared, request).await;
            tokio::time::sleep(delay).await;
            Some(response)
        }
        Fault::FailEntries { one_in } => Some(fail_entries(shared, request, one_in).await),
        Fault::ShardLimits {
            records_per_sec,
            bytes_per_sec,
        } => Some(shard_limits(shared, request, records_per_sec, bytes_per_sec).await),
        Fault::Repeat(_) => unreachable!("FaultPlan::fault_for removes Repeat"),
    }
}

/// [`Fault::FailEntries`]: forwards the passing entries of a `PutRecords` call and answers
/// for all of them in the caller's order.
async fn fail_entries(shared: &Shared, request: &Message, one_in: u32) -> Message {
    let stats = &shared.stats;
    let is_put_records = request
        .header("x-amz-target")
        .is_some_and(|target| target.ends_with(".PutRecords"));
    let parsed = is_put_records.then(|| parse_put_records(&request.body));
    let Some((call, entries)) = parsed.flatten() else {
        return forward(shared, request).await;
    };
    let first = stats
        .entries_seen
        .fetch_add(entries.len() as u64, Ordering::SeqCst)
        + 1;
    let failed: Vec<bool> = (first..first + entries.len() as u64)
        .map(|number| one_in != 0 && number.is_multiple_of(u64::from(one_in)))
        .collect();
    match answer_failing(shared, request, call, entries, &failed).await {
        Ok(answer) => {
            let injected = failed.iter().filter(|failed| **failed).count() as u64;
            if injected > 0 {
                stats.partial_failures.fetch_add(1, Ordering::SeqCst);
                stats.failed_entries.fetch_add(injected, Ordering::SeqCst);
            }
            answer
        }
        Err(upstream) => upstream,
    }
}

/// Forwards the entries of a `PutRecords` call not marked in `failed` and answers for all of
/// them in the caller's order (`Err`: upstream's answer, passed on as it is).
async fn answer_failing(
    shared: &Shared,
    request: &Message,
    mut call: Map<String, Value>,
    entries: Vec<Value>,
    failed: &[bool],
) -> Result<Message, Message> {
    let stats = &shared.stats;
    let stream = stream_name(&call);
    let passing: Vec<Value> = entries
        .into_iter()
        .zip(failed)
        .filter(|(_, failed)| !**failed)
        .map(|(entry, _)| entry)
        .collect();

    // Upstream's word on the passing entries, and the message to answer with.
    let (upstream, mut answer) = if passing.is_empty() {
        (UpstreamEntries::default(), json_ok())
    } else {
        let expected = passing.len();
        call.insert("Records".to_string(), Value::Array(passing));
        let forwarded = Message {
            start: request.start.clone(),
            headers: request.headers.clone(),
            body: Value::Object(call).to_string().into_bytes(),
        };
        let response = forward(shared, &forwarded).await;
        if response.status() != Some(200) {
            return Err(response);
        }
        let Some(upstream) = UpstreamEntries::parse(&response.body, expected) else {
            stats.upstream_errors.fetch_add(1, Ordering::SeqCst);
            let message = format!(
                "fault proxy: upstream {} answered PutRecords unreadably",
                shared.upstream
            );
            return Err(aws_error(502, "BadGateway", Some(&message)));
        };
        let mut answer = response;
        // The body changes; a checksum of the old one would be wrong.
        answer
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("x-amz-crc32"));
        (upstream, answer)
    };

    let mut upstream_records = upstream.records.into_iter();
    let mut records = Vec::with_capacity(failed.len());
    for &failed in failed {
        if failed {
            records.push(failed_entry(&stream));
        } else {
            // UpstreamEntries::parse checked there is one per passing entry.
            records.extend(upstream_records.next());
        }
    }
    let injected = failed.iter().filter(|failed| **failed).count() as u64;
    let mut body = Map::new();
    body.insert(
        "FailedRecordCount".to_string(),
        json!(injected + upstream.failed),
    );
    body.insert("Records".to_string(), Value::Array(records));
    if let Some(encryption) = upstream.encryption {
        body.insert("EncryptionType".to_string(), encryption);
    }
    answer.body = Value::Object(body).to_string().into_bytes();
    Ok(answer)
}

/// Open shards as (id, first hash key, last hash key).
type OpenShards = Vec<(String, u128, u128)>;

/// [`Fault::ShardLimits`]'s state.
#[derive(Default)]
struct ShardWindows {
    /// Per stream: when its open shards were read, and their (id, first, last hash key).
    maps: HashMap<String, (Instant, OpenShards)>,
    /// Per "stream/shard": the (time, bytes) of each record taken in the last second.
    windows: HashMap<String, VecDeque<(Instant, u64)>>,
}

impl ShardWindows {
    /// Takes a record of `bytes` into `shard`'s second at `now`, or says it is over a limit.
    fn admit(&mut self, shard: String, bytes: u64, now: Instant, records: u32, limit: u64) -> bool {
        let window = self.windows.entry(shard).or_default();
        while window
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        let used: u64 = window.iter().map(|(_, b)| b).sum();
        if window.len() >= records as usize || used + bytes > limit {
            return false;
        }
        window.push_back((now, bytes));
        true
    }
}

/// [`Fault::ShardLimits`]: throttles the entries past their shard's limits.
async fn shard_limits(shared: &Shared, request: &Message, records: u32, bytes: u64) -> Message {
    let target = request.header("x-amz-target").unwrap_or_default();
    let single = target.ends_with(".PutRecord");
    let parsed = if single {
        serde_json::from_slice::<Map<String, Value>>(&request.body)
            .ok()
            .map(|call| (call.clone(), vec![Value::Object(call)]))
    } else if target.ends_with(".PutRecords") {
        parse_put_records(&request.body)
    } else {
        None
    };
    let Some((call, entries)) = parsed else {
        return forward(shared, request).await;
    };
    let stream = stream_name(&call);
    let Some(map) = open_shards(shared, request, &stream).await else {
        shared.stats.upstream_errors.fetch_add(1, Ordering::SeqCst);
        let message = format!("fault proxy: ListShards of {stream} upstream failed");
        return aws_error(502, "BadGateway", Some(&message));
    };
    let now = Instant::now();
    let over: Vec<bool> = {
        let mut windows = shared.shard_windows.lock().unwrap();
        entries
            .iter()
            .map(|entry| {
                let text = |k: &str| entry.get(k).and_then(Value::as_str);
                let hash = match text("ExplicitHashKey").and_then(|h| h.parse::<u128>().ok()) {
                    Some(h) => h,
                    None => {
                        let key = text("PartitionKey").unwrap_or_default();
                        u128::from_be_bytes(Md5::digest(key.as_bytes()).into())
                    }
                };
                let shard = map.iter().find(|(_, lo, hi)| *lo <= hash && hash <= *hi);
                let shard = shard.map_or("unmapped", |(id, _, _)| id.as_str());
                // Base64: 4 characters for 3 bytes, less the padding.
                let data = text("Data").unwrap_or_default();
                let padding = data.bytes().rev().take_while(|&b| b == b'=').count();
                let size = (data.len() / 4 * 3).saturating_sub(padding)
                    + text("PartitionKey").unwrap_or_default().len();
                let key = format!("{stream}/{shard}");
                !windows.admit(key, size as u64, now, records, bytes)
            })
            .collect()
    };
    let refused = over.iter().filter(|o| **o).count() as u64;
    let stats = &shared.stats;
    stats.over_limit.fetch_add(refused, Ordering::SeqCst);
    stats
        .within_limit
        .fetch_add(over.len() as u64 - refused, Ordering::SeqCst);
    if single {
        return if refused > 0 {
            let message =
                format!("Rate exceeded for shard in stream {stream} under account {ACCOUNT}.");
            aws_error(
                400,
                "ProvisionedThroughputExceededException",
                Some(&message),
            )
        } else {
            forward(shared, request).await
        };
    }
    match answer_failing(shared, request, call, entries, &over).await {
        Ok(answer) | Err(answer) => answer,
    }
}

/// The open shards of `stream` upstream as (id, first, last hash key), read with ListShards
/// (with the client's own headers) at most every 2 s; `None` if upstream could not say.
async fn open_shards(shared: &Shared, request: &Message, stream: &str) -> Option<OpenShards> {
    if let Some((at, map)) = shared.shard_windows.lock().unwrap().maps.get(stream)
        && at.elapsed() < Duration::from_secs(2)
    {
        return Some(map.clone());
    }
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("x-amz-target"))
        .cloned()
        .collect();
    headers.push(("X-Amz-Target".into(), "Kinesis_20131202.ListShards".into()));
    let list = Message {
        start: "POST / HTTP/1.1".into(),
        headers,
        body: json!({ "StreamName": stream }).to_string().into_bytes(),
    };
    let response = exchange_upstream(shared.upstream, &list).await.ok()?;
    let answer: Value = serde_json::from_slice(&response.body).ok()?;
    let mut map = Vec::new();
    for shard in answer.get("Shards")?.as_array()? {
        if shard["SequenceNumberRange"]
            .get("EndingSequenceNumber")
            .is_some()
        {
            continue; // closed
        }
        let range = &shard["HashKeyRange"];
        let key = |k: &str| range[k].as_str()?.parse::<u128>().ok();
        map.push((
            shard["ShardId"].as_str()?.to_string(),
            key("StartingHashKey")?,
            key("EndingHashKey")?,
        ));
    }
    shared
        .shard_windows
        .lock()
        .unwrap()
        .maps
        .insert(stream.to_string(), (Instant::now(), map.clone()));
    Some(map)
}

/// A `PutRecords` request body: the call without its entries, and the entries.
fn parse_put_records(body: &[u8]) -> Option<(Map<String, Value>, Vec<Value>)> {
    let Value::Object(mut call) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let Value::Array(entries) = call.remove("Records")? else {
        return None;
    };
    Some((call, entries))
}

/// What a 200 `PutRecords` answer from upstream says about the entries it was sent.
#[derive(Default)]
struct UpstreamEntries {
    /// One per entry sent, in order (upstream may have failed some itself).
    records: Vec<Value>,
    /// Its `FailedRecordCount`.
    failed: u64,
    /// Its `EncryptionType`, passed on if present.
    encryption: Option<Value>,
}

impl UpstreamEntries {
    /// `None` unless `body` is a `PutRecords` answer with exactly `expected` records.
    fn parse(body: &[u8], expected: usize) -> Option<UpstreamEntries> {
        let Value::Object(mut answer) = serde_json::from_slice(body).ok()? else {
            return None;
        };
        let Value::Array(records) = answer.remove("Records")? else {
            return None;
        };
        let failed = answer
            .get("FailedRecordCount")
            .map_or(Some(0), Value::as_u64)?;
        (records.len() == expected).then(|| UpstreamEntries {
            records,
            failed,
            encryption: answer.remove("EncryptionType"),
        })
    }
}

/// The stream a `PutRecords` call names, by name or by ARN (`...:stream/NAME`).
fn stream_name(call: &Map<String, Value>) -> String {
    let by_name = call.get("StreamName").and_then(Value::as_str);
    let by_arn = || {
        let arn = call.get("StreamARN").and_then(Value::as_str)?;
        arn.rsplit_once(":stream/").map(|(_, name)| name)
    };
    by_name.or_else(by_arn).unwrap_or_default().to_string()
}

/// One failed entry of a `PutRecords` answer, as Kinesis reports a throttled shard.
fn failed_entry(stream: &str) -> Value {
    json!({
        "ErrorCode": "ProvisionedThroughputExceededException",
        "ErrorMessage": format!(
            "Rate exceeded for shard shardId-000000000000 in stream {stream} under account {ACCOUNT}."
        ),
    })
}

/// An empty 200 JSON answer with a request id, for a call the proxy answers alone.
fn json_ok() -> Message {
    Message {
        start: "HTTP/1.1 200 OK".to_string(),
        headers: vec![
            ("Content-Type".to_string(), AMZ_JSON.to_string()),
            ("x-amzn-RequestId".to_string(), request_id()),
        ],
        body: Vec::new(),
    }
}

/// Sends `request` upstream on a fresh connection and returns its response, or a 502 if the
/// upstream could not be reached or answered garbage.
async fn forward(shared: &Shared, request: &Message) -> Message {
    shared.stats.forwarded.fetch_add(1, Ordering::SeqCst);
    let target = request.header("x-amz-target").unwrap_or_default();
    let writes = [
        ".PutRecord",
        ".PutRecords",
        ".UpdateShardCount",
        ".SplitShard",
        ".MergeShards",
    ];
    let _one_write = if writes.iter().any(|w| target.ends_with(w)) {
        Some(shared.writes.lock().await)
    } else {
        None
    };
    match exchange_upstream(shared.upstream, request).await {
        Ok(response) => response,
        Err(e) => {
            shared.stats.upstream_errors.fetch_add(1, Ordering::SeqCst);
            let message = format!("fault proxy: upstream {}: {e}", shared.upstream);
            aws_error(502, "BadGateway", Some(&message))
        }
    }
}

async fn exchange_upstream(upstream: SocketAddr, request: &Message) -> io::Result<Message> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&request.to_bytes("close")).await?;
    let head_request = request.start.starts_with("HEAD ");
    let mut buf = Vec::new();
    loop {
        let (start, headers) = read_head(&mut stream, &mut buf)
            .await?
            .ok_or_else(|| invalid("upstream closed before answering"))?;
        let mut response = Message {
            start,
            headers,
            body: Vec::new(),
        };
        let status = response
            .status()
            .ok_or_else(|| invalid("bad status line from upstream"))?;
        if (100..200).contains(&status) {
            continue; // interim response; the real one follows
        }
        if !(head_request || status == 204 || status == 304) {
            response.body = read_body(&mut stream, &mut buf, &response, true).await?;
        }
        return Ok(response);
    }
}

/// An error answered the way Kinesis answers it: JSON body with `__type`, the type again in
/// `x-amzn-ErrorType`, and a request id the SDK can log.
fn aws_error(status: u16, kind: &str, message: Option<&str>) -> Message {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    let body = match message {
        Some(message) => format!(
            "{{\"__type\":\"{kind}\",\"message\":\"{}\"}}",
            message.replace(['"', '\\'], "'")
        ),
        None => format!("{{\"__type\":\"{kind}\"}}"),
    };
    Message {
        start: format!("HTTP/1.1 {status} {reason}"),
        headers: vec![
            ("Content-Type".to_string(), AMZ_JSON.to_string()),
            ("x-amzn-ErrorType".to_string(), kind.to_string()),
            ("x-amzn-RequestId".to_string(), request_id()),
        ],
        body: body.into_bytes(),
    }
}

/// A fresh request id for an answer the proxy makes up, in the form the SDK logs.
fn request_id() -> String {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("fa017000-0000-4000-8000-{id:012x}")
}

/// Reads the next request; `None` when the client closed between requests.
async fn read_request(client: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Message>> {
    let Some((start, headers)) = read_head(client, buf).await? else {
        return Ok(None);
    };
    let mut request = Message {
        start,
        headers,
        body: Vec::new(),
    };
    if request.has_token("expect", "100-continue") {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    request.body = read_body(client, buf, &request, false).await?;
    Ok(Some(request))
}

/// Reads a head from `stream` into `buf` and removes it from `buf`.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<(String, Vec<(String, String)>)>> {
    let len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("message head too long"));
        }
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    };
    let head = String::from_utf8(buf.drain(..len).collect())
        .map_err(|_| invalid("message head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("header line without a colon"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some((start, headers)))
}

/// Reads the body framed by `message`'s headers: chunked, Content-Length, or (for a response
/// only, `until_eof`) everything up to the close.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    message: &Message,
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    if message.has_token("transfer-encoding", "chunked") {
        loop {
            if let Some((body, used)) = decode_chunked(buf)? {
                buf.drain(..used);
                return Ok(body);
            }
            fill(stream, buf).await?;
        }
    }
    let len = match message.header("content-length") {
        Some(len) => len
            .parse::<usize>()
            .map_err(|_| invalid("bad Content-Length"))?,
        None if until_eof => {
            while stream.read_buf(buf).await? > 0 {
                if buf.len() > MAX_BODY {
                    return Err(invalid("body too large"));
                }
            }
            return Ok(std::mem::take(buf));
        }
        None => 0,
    };
    if len > MAX_BODY {
        return Err(invalid("body too large"));
    }
    while buf.len() < len {
        fill(stream, buf).await?;
    }
    Ok(buf.drain(..len).collect())
}

/// Reads more bytes, failing on a close in the middle of a message.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() > MAX_BODY + MAX_HEAD {
        return Err(invalid("body too large"));
    }
    if stream.read_buf(buf).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Decodes a complete chunked body at the start of `data`: `(body, bytes used)`, or `None`
/// if more bytes are needed. Chunk extensions and trailers are accepted and dropped.
fn decode_chunked(data: &[u8]) -> io::Result<Option<(Vec<u8>, usize)>> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&data[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[at..at + line_end])
            .map_err(|_| invalid("bad chunk size line"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let Some(end) = find_crlf(&data[at..]) else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if data.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
