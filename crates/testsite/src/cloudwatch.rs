//! A local CloudWatch endpoint for `PutMetricData`, speaking the protocol the Rust SDK speaks
//! (Smithy RPC v2 CBOR: `POST /service/GraniteServiceVersion20100801/operation/PutMetricData`,
//! `smithy-protocol: rpc-v2-cbor`, `application/cbor` both ways), which moto does not serve.
//!
//! It records every datum it receives, answers as the service does, and on demand answers with
//! an error or not at all, so the daemon's metrics path is tested over a real connection with
//! the real SDK, as Kinesis is with moto.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ciborium::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::on_thread::OnThread;

/// The operation's path in RPC v2 CBOR.
pub const PUT_METRIC_DATA: &str = "/service/GraniteServiceVersion20100801/operation/PutMetricData";

/// How the endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with an empty CBOR map, as the service does.
    Ok,
    /// This status with a CBOR error body whose `__type` is `code` (e.g. 403 "AccessDenied").
    Error(u16, String),
    /// Reads the request and never answers (a dead or hanging endpoint).
    Silent,
}

/// Statistic values of a datum (`StatisticValues`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatisticSet {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

/// One metric datum as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub unit: Option<String>,
    pub value: Option<f64>,
    pub statistics: Option<StatisticSet>,
}

#[derive(Debug)]
struct Shared {
    answer: Mutex<Answer>,
    datums: Mutex<Vec<Datum>>,
    requests: AtomicU64,
}

/// The endpoint on 127.0.0.1, on a thread of its own; dropping it stops it.
#[derive(Debug)]
pub struct LocalCloudWatch {
    server: OnThread,
    shared: Arc<Shared>,
}

impl LocalCloudWatch {
    /// Binds a free port on 127.0.0.1 and serves until dropped.
    pub fn start(answer: Answer) -> io::Result<LocalCloudWatch> {
        let shared = Arc::new(Shared {
            answer: Mutex::new(answer),
            datums: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
        });
        let served = Arc::clone(&shared);
        let server = OnThread::start(
            "local-cloudwatch",
            SocketAddr::from(([127, 0, 0, 1], 0)),
            move |listener| accept_loop(listener, served),
        )?;
        Ok(LocalCloudWatch { server, shared })
    }

    /// `http://127.0.0.1:PORT`, for `[metrics] endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Answers the next requests this way.
    pub fn set_answer(&self, answer: Answer) {
        *self
            .shared
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = answer;
    }

    /// Requests received (PutMetricData or not).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every datum received in a request that was answered with success.
    pub fn datums(&self) -> Vec<Datum> {
        self.shared
            .datums
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The datums named `name`.
    pub fn named(&self, name: &str) -> Vec<Datum> {
        self.datums()
            .into_iter()
            .filter(|d| d.name == name)
            .collect()
    }

    /// The total of the metric `name`: its values plus its statistic sets' sums.
    pub fn sum(&self, name: &str) -> f64 {
        self.named(name)
            .iter()
            .map(|d| d.value.unwrap_or(0.0) + d.statistics.map_or(0.0, |s| s.sum))
            .sum()
    }

    /// The largest value of the metric `name` (values and statistic maxima).
    pub fn max(&self, name: &str) -> Option<f64> {
        self.named(name)
            .iter()
            .filter_map(|d| d.value.or(d.statistics.map(|s| s.maximum)))
            .reduce(f64::max)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(connection(stream, Arc::clone(&shared)));
        }
    }
}

/// One keep-alive connection: request after request until the client closes it.
async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    loop {
        let Ok(Some((path, body))) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        shared.requests.fetch_add(1, Ordering::SeqCst);
        let answer = shared
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (status, body) = match answer {
            Answer::Silent => {
                // Hold the connection open without a word until the client gives up.
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Answer::Error(status, code) => (status, error_body(&code)),
            Answer::Ok if path != PUT_METRIC_DATA => (404, error_body("UnknownOperationException")),
            Answer::Ok => match decode(&body) {
                Ok(datums) => {
                    shared
                        .datums
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(datums);
                    (200, vec![0xa0]) // an empty CBOR map
                }
                Err(why) => (400, error_body(&format!("SerializationException: {why}"))),
            },
        };
        let head = format!(
            "HTTP/1.1 {status} {}\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\nx-amzn-RequestId: local-{}\r\n\r\n",
            if status == 200 { "OK" } else { "Error" },
            body.len(),
            shared.requests.load(Ordering::SeqCst)
        );
        if stream
            .write_all(&[head.into_bytes(), body].concat())
            .await
            .is_err()
        {
            return;
        }
    }
}

fn error_body(code: &str) -> Vec<u8> {
    let value = Value::Map(vec![
        (Value::Text("__type".into()), Value::Text(code.into())),
        (
            Value::Text("message".into()),
            Value::Text(format!("{code} (local CloudWatch endpoint)")),
        ),
    ]);
    let mut out = Vec::new();
    let _ = ciborium::ser::into_writer(&value, &mut out);
    out
}

/// Reads one request: (path, body). `None` when the client closed the connection.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<(String, Vec<u8>)>> {
    let head_len = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    buf.drain(..head_len);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < length {
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
    let body = buf.drain(..length).collect();
    Ok(Some((path, body)))
}

fn field<'a>(map: &'a [(Value, Value)], name: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
        .map(|(_, v)| v)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Float(f)) => Some(*f),
        Some(Value::Integer(i)) => Some(i128::from(*i) as f64),
        Some(Value::Tag(_, inner)) => number(Some(inner)),
        _ => None,
    }
}

/// The datums of a PutMetricData request body.
fn decode(body: &[u8]) -> Result<Vec<Datum>, String> {
    let value: Value = ciborium::de::from_reader(body).map_err(|e| e.to_string())?;
    let Value::Map(request) = value else {
        return Err("the request is not a CBOR map".into());
    };
    let namespace = text(field(&request, "Namespace")).ok_or("no Namespace")?;
    let Some(Value::Array(data)) = field(&request, "MetricData") else {
        return Err("no MetricData".into());
    };
    let mut datums = Vec::new();
    for item in data {
        let Value::Map(d) = item else {
            return Err("a MetricData element is not a map".into());
        };
        let dimensions = match field(d, "Dimensions") {
            Some(Value::Array(dims)) => dims
                .iter()
                .filter_map(|dim| match dim {
                    Value::Map(m) => Some((text(field(m, "Name"))?, text(field(m, "Value"))?)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let statistics = match field(d, "StatisticValues") {
            Some(Value::Map(s)) => Some(StatisticSet {
                sample_count: number(field(s, "SampleCount")).unwrap_or(0.0),
                sum: number(field(s, "Sum")).unwrap_or(0.0),
                minimum: number(field(s, "Minimum")).unwrap_or(0.0),
                maximum: number(field(s, "Maximum")).unwrap_or(0.0),
            }),
            _ => None,
        };
        datums.push(Datum {
            namespace: namespace.clone(),
            name: text(field(d, "MetricName")).ok_or("a datum without MetricName")?,
            dimensions,
            unit: text(field(d, "Unit")),
            value: number(field(d, "Value")),
            statistics,
        });
    }
    Ok(datums)
}
