//! The send loop's decisions on a simulated clock: how full the requests are and how fast
//! the records go, on streams of few and of many shards.

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::kinesis::shards::Shard;

/// `n` shards splitting the hash-key space evenly.
fn map(n: u128) -> ShardMap {
    let step = u128::MAX / n;
    let shards = (0..n)
        .map(|i| Shard {
            id: format!("shardId-{i:012}"),
            start: i * step,
            end: if i == n - 1 {
                u128::MAX
            } else {
                (i + 1) * step - 1
            },
        })
        .collect();
    ShardMap::new(shards).expect("shards")
}

/// A run of `records` book-sized records on `shards` shards, sent as the loop would with
/// every answer instant: the size of each request and when the last one went.
fn backlog(shards: u128, records: u64) -> (Vec<usize>, Duration) {
    let t0 = Instant::now();
    let mut run = Run::new(map(shards), false, &Options::default(), t0);
    for index in 0..records {
        let item = Item {
            index,
            record: Outgoing {
                data: vec![b'x'; 430],
                partition_key: format!("{:016x}", index.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                label: index.to_string(),
            },
        };
        assert!(run.intake(item, false).is_ok());
    }
    run.input_ended();
    let (mut now, mut sizes, mut last) = (t0, Vec::new(), t0);
    for _ in 0..100_000 {
        if run.is_drained() {
            return (sizes, last - t0);
        }
        if run.may_send(now) {
            let batch = run.take_batch(now);
            if !batch.is_empty() {
                run.sent(&batch, now);
                sizes.push(batch.len());
                last = now;
                continue;
            }
        }
        let wake = run.next_wake(true).expect("records wait");
        assert!(wake > now, "the loop would spin at {:?}", now - t0);
        now = wake;
    }
    panic!("not drained: {sizes:?}");
}

#[test]
fn on_four_shards_a_backlog_goes_out_in_full_requests_at_the_limiters_pace() {
    let (sizes, took) = backlog(4, 20_000);
    let full = sizes.iter().filter(|&&n| n == MAX_ENTRIES).count();
    // Only the last few, once some shards have run dry, are not full (the keys spread
    // unevenly over the shards).
    assert!(
        full + 6 >= sizes.len(),
        "{} requests: {sizes:?}",
        sizes.len()
    );
    // 4 shards at 72.5% of 1,000 records/s (85% less the burst of 12.5%): 2,900/s.
    let rate = 20_000.0 / took.as_secs_f64();
    eprintln!("{} requests, {full} full, {rate:.0}/s", sizes.len());
    assert!((2_800.0..=3_000.0).contains(&rate), "{rate:.0} records/s");
}

#[test]
fn on_many_shards_full_requests_go_as_fast_as_the_shards_allow() {
    // 40 shards at 80% of 1,000 records/s: 32,000/s, 64 full requests a second.
    let (sizes, took) = backlog(40, 64_000);
    let full = sizes.iter().filter(|&&n| n == MAX_ENTRIES).count();
    assert!(
        full * 10 >= sizes.len() * 9,
        "{} requests: {sizes:?}",
        sizes.len()
    );
    let rate = 64_000.0 / took.as_secs_f64();
    eprintln!("{} requests, {full} full, {rate:.0}/s", sizes.len());
    assert!((30_000.0..=33_000.0).contains(&rate), "{rate:.0} records/s");
}
