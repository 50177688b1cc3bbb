//! The daemon rig: a moto_server with one stream, the test site, a config for both in a scratch
//! folder, the daemon as a child process, a NOTIFY_SOCKET listener, and the checks on what the
//! stream holds. Shared by the daemon and hardening tests.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bookstream_testsite::Site as Generated;

use super::{Moto, Site, bookstream, scratch, signal};

/// Writes a daemon config for the test servers; `extra` is appended (later keys win in TOML
/// only if in their own section, so callers pass whole `[section]` blocks they own).
pub fn write_config(
    dir: &Path,
    site: &str,
    endpoint: &str,
    stream: &str,
    stream_section: &str,
) -> PathBuf {
    let path = dir.join("bookstream.toml");
    let text = format!(
        r#"[site]
base_url = "{site}"
request_timeout = "5s"
refresh = "1h"
# The local test site bears far more than the product default of 2 a second.
max_requests_per_sec = 1000

[kinesis]
stream_name = "{stream}"
region = "us-east-1"
endpoint_url = "{endpoint}"

{stream_section}

[schedule]
cron = "*/2 * * * * *"

[state]
dir = "{state}"
"#,
        state = dir.join("state").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub const FAST: &str = "[stream]\ninterval = \"100ms\"\nmax_records = 10\n";

pub fn spawn_daemon(config: &Path, notify: Option<&Path>, watchdog_usec: Option<u64>) -> Child {
    spawn_daemon_with(config, notify, watchdog_usec, &[])
}

pub fn spawn_daemon_with(
    config: &Path,
    notify: Option<&Path>,
    watchdog_usec: Option<u64>,
    env: &[(&str, &str)],
) -> Child {
    let mut cmd = bookstream();
    cmd.envs(env.iter().copied());
    cmd.args([
        "run",
        "--config",
        config.to_str().unwrap(),
        "--log-format",
        "json",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if let Some(sock) = notify {
        cmd.env("NOTIFY_SOCKET", sock);
    }
    if let Some(usec) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", usec.to_string());
    }
    cmd.spawn().expect("spawn bookstream run")
}

/// Waits for exit, returning (status, stderr).
pub fn finish(child: Child) -> (std::process::ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `bookstream --log-format json once --config CONFIG`, started, its stderr piped.
pub fn spawn_once(config: &Path) -> Child {
    bookstream()
        .args(["--log-format", "json", "once", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bookstream once")
}

/// [`finish`] off the runtime, so that the servers the test runs on it keep answering.
pub async fn finished(child: Child) -> (std::process::ExitStatus, String) {
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap()
}

/// Blocks until the stream holds at least `n` records (or panics after `within`).
pub async fn wait_for_records(moto: &Moto, stream: &str, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let have = moto.read_back(stream).await.len();
        if have >= n {
            return have;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {n} records after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The UPCs of the daemon's records in `stream`, in order; every record is checked against the
/// record schema first (they are the daemon's own: book records or change events).
pub async fn upcs(moto: &Moto, stream: &str) -> Vec<String> {
    let records = moto.read_back(stream).await;
    super::assert_valid_records(&records);
    upcs_of(&records)
}

/// The `upc` of each record, for records of any shape (the `stream` command sends the user's).
pub fn upcs_of(records: &[Vec<u8>]) -> Vec<String> {
    records
        .iter()
        .map(|d| {
            let v: serde_json::Value = serde_json::from_slice(d).unwrap();
            v["upc"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Checks `got` against the cyclic walk of `order`: returns the number of duplicates (a record
/// repeated right after itself) and panics on any skipped or out-of-order book.
pub fn check_walk(got: &[String], order: &[String]) -> usize {
    let mut next = 0usize;
    let mut dups = 0;
    for (i, upc) in got.iter().enumerate() {
        if *upc == order[next % order.len()] {
            next += 1;
        } else if next > 0 && *upc == order[(next - 1) % order.len()] {
            dups += 1;
        } else {
            panic!(
                "record {i} is {upc}, expected {} (or a repeat of the previous one): a book was skipped",
                order[next % order.len()]
            );
        }
    }
    dups
}

pub fn truth(books: usize, per_page: usize) -> Vec<String> {
    Generated::generate(books, per_page)
        .books()
        .iter()
        .map(|b| b.upc.clone())
        .collect()
}

/// A moto_server with one stream, the test site, and a config for both in a scratch folder.
pub struct Rig {
    pub moto: Moto,
    pub _site: Site,
    pub site_url: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub stream: &'static str,
}

impl Rig {
    pub async fn new(stream: &'static str, site_args: &[&str], stream_section: &str) -> Rig {
        let moto = Moto::start();
        moto.create_stream(stream, 1).await;
        let site = Site::start(site_args);
        let dir = scratch(stream);
        let config = write_config(&dir, &site.url, &moto.endpoint, stream, stream_section);
        Rig {
            moto,
            site_url: site.url.clone(),
            _site: site,
            dir,
            config,
            stream,
        }
    }

    /// A config like the rig's own, with `section`, whose Kinesis endpoint is `proxy` (the
    /// fault proxy in front of the rig's moto).
    pub fn config_through(&self, proxy: impl std::fmt::Display, section: &str) -> PathBuf {
        write_config(
            &self.dir,
            &self.site_url,
            &format!("http://{proxy}"),
            self.stream,
            section,
        )
    }

    /// Runs the daemon (JSON logs, `env` added) until the stream holds `n` records, stops it
    /// with SIGTERM, checks it exited 0 and returns its stderr.
    pub async fn run_until(&self, n: usize, env: &[(&str, &str)]) -> String {
        run_until(&self.config, &self.moto, self.stream, n, env).await
    }

    pub async fn upcs(&self) -> Vec<String> {
        upcs(&self.moto, self.stream).await
    }

    /// As [`Rig::upcs`], without the schema check: for what the `stream` command sent.
    pub async fn upcs_of_any(&self) -> Vec<String> {
        upcs_of(&self.moto.read_back(self.stream).await)
    }
}

/// See [`Rig::run_until`]; for configs that point elsewhere than the rig (a fault proxy).
pub async fn run_until(
    config: &Path,
    moto: &Moto,
    stream: &str,
    n: usize,
    env: &[(&str, &str)],
) -> String {
    let child = spawn_daemon_with(config, None, None, env);
    wait_for_records(moto, stream, n, Duration::from_secs(60)).await;
    signal(&child, "TERM");
    let (status, stderr) = finish(child);
    assert!(status.success(), "{status:?}\n{stderr}");
    stderr
}

/// A NOTIFY_SOCKET owned by the test; messages arrive on a channel.
pub struct Notify {
    pub path: PathBuf,
    pub rx: mpsc::Receiver<String>,
}

impl Notify {
    pub fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                if tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        Notify { path, rx }
    }

    /// Waits for a message containing `needle`; returns it.
    pub fn expect(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if m.contains(needle) => return m,
                Ok(_) => continue,
                Err(_) => panic!("no {needle:?} notification within {within:?}"),
            }
        }
    }

    pub fn count(&self, needle: &str, over: Duration) -> usize {
        let deadline = Instant::now() + over;
        let mut n = 0;
        while let Ok(m) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            n += usize::from(m.contains(needle));
        }
        n
    }
}

/// Checks in the daemon's JSON log that no cycle started before the previous one finished,
/// and that at least two ran.
pub fn assert_no_overlap(stderr: &str) {
    let mut open = false;
    let mut cycles = 0;
    for line in stderr.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v["event"].as_str() {
            Some("cycle_started") => {
                assert!(
                    !open,
                    "a cycle started before the previous one finished:\n{stderr}"
                );
                open = true;
                cycles += 1;
            }
            Some("cycle_finished") => open = false,
            _ => {}
        }
    }
    assert!(cycles >= 2, "{stderr}");
}

/// Starts the daemon on `config` `kills` times and kills it with SIGKILL after a random
/// `from_ms + [0, spread_ms)` ms each time: at random points of its cycles.
pub async fn kill_9_repeatedly(config: &Path, kills: usize, from_ms: u64, spread_ms: u64) {
    for _ in 0..kills {
        let child = spawn_daemon(config, None, None);
        let ms = from_ms + fastrand::u64(..spread_ms);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        signal(&child, "KILL");
        finish(child);
    }
}
