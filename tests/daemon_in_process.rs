//! `daemon::run` driven in-process, as mini-redis's tests drive `server::run`: its stop and
//! reload signals and its notifier are arguments, so the test raises them itself and reads what
//! the daemon told its service manager, against a real moto_server and the project's test site.
//! (tests/daemon.rs drives the real binary with real signals and a real NOTIFY_SOCKET.)
//!
//! A binary of its own: the AWS chain reads its credentials from this process's environment,
//! which is set once, before any thread of the test's own starts.

mod common;

use std::time::Duration;

use bookstream::config::Settings;
use bookstream::daemon::{self, Notice, Notifier, Signals};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use common::rig::*;

/// Waits for the first notice `wanted` accepts, recording every notice seen on the way.
async fn expect(
    notices: &mut mpsc::UnboundedReceiver<Notice>,
    seen: &mut Vec<Notice>,
    what: &str,
    wanted: impl Fn(&Notice) -> bool,
) -> Notice {
    let within = Duration::from_secs(20);
    let found = tokio::time::timeout(within, async {
        while let Some(n) = notices.recv().await {
            seen.push(n.clone());
            if wanted(&n) {
                return Some(n);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(n)) => n,
        Ok(None) => panic!("the daemon dropped its notifier before {what}; seen: {seen:?}"),
        Err(_) => panic!("no {what} within {within:?}; seen: {seen:?}"),
    }
}

fn status_with(needle: &'static str) -> impl Fn(&Notice) -> bool {
    move |n| matches!(n, Notice::Status(text) if text.contains(needle))
}

#[tokio::test]
async fn the_daemon_in_process_runs_a_cycle_reloads_and_stops_and_says_so() {
    // SAFETY: the only test in this binary, before it starts a thread or a server: nothing
    // reads the environment concurrently. Dummy credentials for moto, no instance metadata,
    // no profile, no endpoint or config overrides from the caller's shell.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        for (key, _) in std::env::vars() {
            if key.starts_with("BOOKSTREAM__")
                || ["AWS_PROFILE", "AWS_ENDPOINT_URL", "NOTIFY_SOCKET"].contains(&key.as_str())
            {
                std::env::remove_var(key);
            }
        }
    }
    let rig = Rig::new("inproc", &["--books", "30", "--per-page", "10"], FAST).await;
    let settings = Settings::load(&rig.config).unwrap();
    let (notifier, mut notices) = Notifier::recorder();
    let stop = CancellationToken::new();
    let (reload, reloads) = mpsc::channel(1);
    let signals = Signals {
        stop: stop.clone(),
        reload: reloads,
    };
    let run = daemon::run(rig.config.clone(), settings, signals, notifier);
    tokio::pin!(run);

    let mut seen = Vec::new();
    let drive = async {
        expect(&mut notices, &mut seen, "READY", |n| n == &Notice::Ready).await;
        let first = expect(
            &mut notices,
            &mut seen,
            "the first cycle's STATUS",
            status_with("10/10 sent"),
        )
        .await;
        let Notice::Status(first) = first else {
            unreachable!()
        };
        assert!(first.starts_with("cycle 1: 10/10 sent"), "{first}");

        // A reload: the file now asks for 5 records a cycle, from the next cycle on.
        let section = "[stream]\ninterval = \"100ms\"\nmax_records = 5\n";
        write_config(
            &rig.dir,
            &rig.site_url,
            &rig.moto.endpoint,
            rig.stream,
            section,
        );
        reload.send(()).await.unwrap();
        expect(&mut notices, &mut seen, "RELOADING", |n| {
            n == &Notice::Reloading
        })
        .await;
        expect(&mut notices, &mut seen, "READY after the reload", |n| {
            n == &Notice::Ready
        })
        .await;
        expect(
            &mut notices,
            &mut seen,
            "a cycle on the reloaded settings",
            status_with(" 5/5 sent"),
        )
        .await;

        stop.cancel();
    };
    tokio::select! {
        ended = &mut run => panic!("the daemon ended before it was told to stop: {ended:?}"),
        () = drive => {}
    }
    let ended = tokio::time::timeout(Duration::from_secs(30), run).await;
    ended
        .expect("the daemon stops within 30 s of being told")
        .expect("a clean stop");
    // What it said on the way out is still in the channel.
    expect(&mut notices, &mut seen, "STOPPING", |n| {
        n == &Notice::Stopping
    })
    .await;
    while let Ok(n) = notices.try_recv() {
        seen.push(n);
    }

    // The whole protocol, in order: READY, STATUS of cycles, RELOADING, READY, STOPPING.
    let wire: Vec<String> = seen.iter().map(Notice::to_string).collect();
    let at = |wanted: &str, from: usize| {
        from + wire[from..]
            .iter()
            .position(|n| n.starts_with(wanted))
            .unwrap_or_else(|| panic!("no {wanted} after notice {from}: {wire:?}"))
    };
    let ready = at("READY=1", 0);
    let status = at("STATUS=cycle 1: ", ready);
    let reloading = at("RELOADING=1", status);
    let ready_again = at("READY=1", reloading);
    at("STOPPING=1", ready_again);
    assert!(!wire.iter().any(|n| n == "WATCHDOG=1"), "{wire:?}");

    assert!(rig.dir.join("state/cursor.json").exists());
    let got = rig.upcs().await;
    assert!(got.len() >= 15, "{got:?}");
    assert_eq!(
        check_walk(&got, &truth(30, 10)),
        0,
        "a clean run duplicates nothing"
    );
}
