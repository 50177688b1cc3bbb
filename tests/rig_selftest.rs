//! The test rig checked against itself: the fault proxy's partial `PutRecords` failures, sent
//! through the real AWS SDK to a real moto_server on 127.0.0.1 and read back from moto directly.
//! Other tests trust the proxy to fail exactly what it claims and write exactly the rest.

mod common;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::put_records::{PutRecordsError, PutRecordsOutput};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::Moto;
use common::fault_proxy::{self, Fault, FaultPlan};

const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// `count` distinct payloads, `{prefix}-00`, `{prefix}-01`, ...
fn payloads(prefix: &str, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{prefix}-{i:02}").into_bytes())
        .collect()
}

/// One PutRecords call of `data`, one entry per payload.
async fn put_records(
    client: &Client,
    stream: &str,
    data: &[Vec<u8>],
) -> Result<PutRecordsOutput, SdkError<PutRecordsError>> {
    let entries = data.iter().enumerate().map(|(i, payload)| {
        PutRecordsRequestEntry::builder()
            .data(Blob::new(payload.clone()))
            .partition_key(format!("key-{i}"))
            .build()
            .expect("data and partition key are set")
    });
    client
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries.collect()))
        .send()
        .await
}

/// Positions of the entries the answer reports as failed, after checking each entry is
/// either a throttled failure naming `stream` or a written record with a sequence number.
fn failed_positions(answer: &PutRecordsOutput, stream: &str) -> Vec<usize> {
    let mut failed = Vec::new();
    for (at, entry) in answer.records().iter().enumerate() {
        match entry.error_code() {
            Some(code) => {
                assert_eq!(code, THROTTLED, "entry {at}");
                let message = entry.error_message().unwrap_or_default();
                assert!(
                    message.contains(&format!("in stream {stream} ")),
                    "entry {at}: {message}"
                );
                assert!(entry.sequence_number().is_none(), "entry {at}");
                failed.push(at);
            }
            None => {
                assert!(entry.sequence_number().is_some(), "entry {at}: {entry:?}");
                assert_eq!(entry.shard_id(), Some("shardId-000000000000"), "entry {at}");
            }
        }
    }
    failed
}

/// The payloads not at `failed` positions, in order.
fn passing(data: &[Vec<u8>], failed: &[usize]) -> Vec<Vec<u8>> {
    data.iter()
        .enumerate()
        .filter(|(at, _)| !failed.contains(at))
        .map(|(_, payload)| payload.clone())
        .collect()
}

#[tokio::test]
async fn every_fifth_entry_fails_in_place_and_only_the_others_are_written() {
    let moto = Moto::start();
    moto.create_stream("selftest", 1).await;
    let plan = FaultPlan::repeat("PutRecords", Fault::FailEntries { one_in: 5 });
    let (proxy, stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let client = common::client_for(&format!("http://{proxy}"));

    let data = payloads("fifth", 50);
    let answer = put_records(&client, "selftest", &data)
        .await
        .expect("a partly failed PutRecords is still a 200");

    assert_eq!(answer.failed_record_count(), Some(10));
    assert_eq!(answer.records().len(), 50);
    let failed = failed_positions(&answer, "selftest");
    let expected: Vec<usize> = (4..50).step_by(5).collect();
    assert_eq!(failed, expected);
    // The body was cut and re-framed after the SDK signed it; moto took it regardless.
    assert_eq!(moto.read_back("selftest").await, passing(&data, &failed));
    assert_eq!(stats.entries_seen(), 50);
    assert_eq!(stats.failed_entries(), 10);
    assert_eq!(stats.partial_failures(), 1);
    assert_eq!(stats.injected(), 1);
    assert_eq!(stats.forwarded(), 1);
}

#[tokio::test]
async fn failing_entries_counts_across_calls_and_withholds_a_call_whose_entries_all_fail() {
    let moto = Moto::start();
    moto.create_stream("counted", 1).await;
    let plan = FaultPlan::repeat("PutRecords", Fault::FailEntries { one_in: 5 });
    let (proxy, stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let client = common::client_for(&format!("http://{proxy}"));

    // Entries 1-7, 8-15, 16-19 and 20 as the proxy counts them: 5, 10, 15 and 20 fail.
    let calls = [
        (payloads("a", 7), vec![4]),
        (payloads("b", 8), vec![2, 7]),
        (payloads("c", 4), vec![]),
        (payloads("d", 1), vec![0]),
    ];
    let mut written = Vec::new();
    for (data, expected) in &calls {
        let answer = put_records(&client, "counted", data).await.expect("200");
        let failed = failed_positions(&answer, "counted");
        assert_eq!(&failed, expected, "call of {} entries", data.len());
        assert_eq!(answer.failed_record_count(), Some(expected.len() as i32));
        written.extend(passing(data, &failed));
    }

    assert_eq!(moto.read_back("counted").await, written);
    assert_eq!(
        stats.matched(),
        4,
        "the repeated fault applied to every call"
    );
    assert_eq!(
        stats.forwarded(),
        3,
        "the all-failed call never went upstream"
    );
    assert_eq!(stats.failed_entries(), 4);
    assert_eq!(stats.partial_failures(), 3);
}

#[tokio::test]
async fn failing_entries_passes_an_upstream_error_through_unchanged() {
    let moto = Moto::start();
    let plan = FaultPlan::repeat("PutRecords", Fault::FailEntries { one_in: 2 });
    let (proxy, stats) = fault_proxy::spawn(moto.addr, plan).await.unwrap();
    let client = common::client_for(&format!("http://{proxy}"));

    let error = put_records(&client, "missing", &payloads("lost", 3))
        .await
        .expect_err("moto has no stream 'missing'");

    let error = error.into_service_error();
    assert!(error.is_resource_not_found_exception(), "{error:?}");
    assert_eq!(stats.forwarded(), 1);
    assert_eq!(stats.failed_entries(), 0);
    assert_eq!(stats.injected(), 0);
}
