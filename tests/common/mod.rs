//! Test harness: real servers on 127.0.0.1 (moto_server, the project's test site) and the real
//! `bookstream` binary as a child process. A missing server fails the test loudly.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod rig;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::ShardIteratorType;

/// A free TCP port on 127.0.0.1 (bind to 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0")
}

/// The binary under test, with dummy AWS credentials and no way to reach IMDS or a profile.
pub fn bookstream() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bookstream"));
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info");
    for (k, _) in std::env::vars() {
        if k.starts_with("BOOKSTREAM__") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Checks that every record is valid against `bookstream schema --format json-schema` (the
/// schema derived from the record types), with an independent validator: Python's
/// `jsonschema` through tests/lake/validate.py. Used wherever the daemon's tests read their
/// records back, so every record a test makes, in either mode, is checked; without python3 or
/// `jsonschema` the test fails, it never skips.
pub fn assert_valid_records(records: &[Vec<u8>]) {
    if records.is_empty() {
        return;
    }
    let dir = scratch("schema-check");
    let schema = run(&["schema", "--format", "json-schema"]);
    assert!(
        schema.status.success(),
        "bookstream schema: {}",
        stderr(&schema)
    );
    let schema_path = dir.join("schema.json");
    std::fs::write(&schema_path, &schema.stdout).expect("write the schema");
    let mut lines = Vec::new();
    for r in records {
        lines.extend_from_slice(r);
        lines.push(b'\n');
    }
    let records_path = dir.join("records.jsonl");
    std::fs::write(&records_path, &lines).expect("write the records");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/lake/validate.py"
        ))
        .arg(&schema_path)
        .arg(&records_path)
        .output()
        .expect("python3 must be installed (and jsonschema: pip install jsonschema)");
    assert!(
        out.status.success(),
        "records that the schema refuses ({}):\n{}\n{}",
        records_path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    bookstream()
        .args(args)
        .output()
        .expect("cannot run bookstream")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sends a real signal (`kill -SIG PID`) to a child.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} {} failed", child.id());
}

/// A child process killed on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto_server on a free loopback port.
pub struct Moto {
    _child: Reaped,
    pub endpoint: String,
    pub addr: std::net::SocketAddr,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("moto-{port}.log"));
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto log file"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "moto_server could not be started ({e}); install it: pip install 'moto[server]==5.2.1'"
                )
            });
        let child = Reaped(child);
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {addr} within 30 s; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            _child: child,
            endpoint: format!("http://{addr}"),
            addr,
        }
    }

    pub fn client(&self) -> aws_sdk_kinesis::Client {
        client_for(&self.endpoint)
    }

    pub async fn create_stream(&self, name: &str, shards: i32) {
        self.client()
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("CreateStream");
    }

    /// Every record of every shard, read back with GetShardIterator(TRIM_HORIZON) + GetRecords,
    /// independently of the code under test.
    pub async fn read_back(&self, stream: &str) -> Vec<Vec<u8>> {
        self.read_back_arrivals(stream)
            .await
            .into_iter()
            .map(|(data, _)| data)
            .collect()
    }

    /// As [`Moto::read_back`], with each record's ApproximateArrivalTimestamp (Unix seconds).
    pub async fn read_back_arrivals(&self, stream: &str) -> Vec<(Vec<u8>, f64)> {
        self.read_back_records(stream)
            .await
            .into_iter()
            .map(|r| (r.data, r.arrival))
            .collect()
    }

    /// Every shard of `stream` (open and closed), from ListShards.
    pub async fn shards(&self, stream: &str) -> Vec<aws_sdk_kinesis::types::Shard> {
        self.client()
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .expect("ListShards")
            .shards
            .unwrap_or_default()
    }

    /// Every record of every shard (open or closed), with where and when it landed.
    pub async fn read_back_records(&self, stream: &str) -> Vec<Landed> {
        let client = self.client();
        let shards = self.shards(stream).await;
        let mut out = Vec::new();
        for shard in shards {
            let mut it = client
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(&shard.shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("GetShardIterator")
                .shard_iterator;
            while let Some(i) = it {
                let page = client
                    .get_records()
                    .shard_iterator(i)
                    .send()
                    .await
                    .expect("GetRecords");
                if page.records.is_empty() {
                    break;
                }
                out.extend(page.records.into_iter().map(|r| {
                    Landed {
                        shard_id: shard.shard_id.clone(),
                        partition_key: r.partition_key.unwrap_or_default(),
                        arrival: r
                            .approximate_arrival_timestamp
                            .map_or(0.0, |t| t.as_secs_f64()),
                        data: r.data.into_inner(),
                    }
                }));
                it = page.next_shard_iterator;
            }
        }
        out
    }
}

/// One record as read back from a shard.
#[derive(Debug, Clone)]
pub struct Landed {
    pub shard_id: String,
    pub partition_key: String,
    /// ApproximateArrivalTimestamp, Unix seconds.
    pub arrival: f64,
    pub data: Vec<u8>,
}

pub fn client_for(endpoint: &str) -> aws_sdk_kinesis::Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(conf)
}

/// The project's test site (crates/testsite), served on a thread of this test process; the
/// same arguments as the `bookstream-testsite` binary. Stops when dropped.
pub struct Site {
    running: bookstream_testsite::RunningSite,
    pub url: String,
}

impl Site {
    pub fn start(args: &[&str]) -> Site {
        let argv = std::iter::once("bookstream-testsite").chain(args.iter().copied());
        let parsed = <bookstream_testsite::SiteArgs as clap::Parser>::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("bad test-site arguments {args:?}: {e}"));
        let running = parsed
            .start()
            .unwrap_or_else(|e| panic!("cannot start the test site {args:?}: {e}"));
        Site {
            url: running.url(),
            running,
        }
    }

    pub fn stats(&self) -> &bookstream_testsite::Stats {
        self.running.stats()
    }
}

/// A fresh scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bookstream-test-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// JSON log lines (from `--log-format json`) of the typed event `name` (its `event` field).
pub fn named(stderr: &str, name: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == name)
        .collect()
}
