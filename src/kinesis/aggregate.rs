//! KPL record aggregation: many small user records packed into one Kinesis record, in the
//! format of the Kinesis Producer Library (`aggregation-format.md` in
//! awslabs/amazon-kinesis-producer), so that the KCL, Firehose and Lambda de-aggregate them.
//!
//! Kinesis bills and throttles per record (1000/s per shard) as well as per byte; books are a
//! few hundred bytes each, so packing them is what lets one shard carry a whole catalogue.
//! The wire format is `MAGIC ++ protobuf(AggregatedRecord) ++ md5(protobuf)`.

use std::collections::HashMap;

use md5::{Digest, Md5};
use prost::Message;
use prost::encoding::{encoded_len_varint, key_len};

/// What the first four bytes of every KPL aggregate are; plain data never starts with them
/// (they are not valid UTF-8, so no JSON record can).
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// The MD5 digest that closes an aggregate.
const DIGEST_LEN: usize = 16;

/// The KPL's messages, written out by hand so the build needs no `protoc`. They are proto2:
/// `required` fields go on the wire even when zero, which the KCL's decoder expects.
#[derive(Clone, PartialEq, prost::Message)]
struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    records: Vec<Record>,
}

/// Part of the format, never written by us; decoded (and ignored) so aggregates from the KPL
/// itself read back.
#[derive(Clone, PartialEq, prost::Message)]
struct Tag {
    #[prost(string, required, tag = "1")]
    key: String,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Record {
    #[prost(uint64, required, tag = "1")]
    partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    tags: Vec<Tag>,
}

/// Packs user records bound for ONE shard into aggregated records of at most `max_bytes`,
/// counted as Kinesis counts a record: data bytes plus the UTF-8 bytes of its partition key.
///
/// The encoded size is tracked as records arrive, so deciding whether the next one fits costs
/// O(1) instead of a re-encode.
#[derive(Debug, Clone)]
pub struct Aggregator {
    max_bytes: usize,
    message: AggregatedRecord,
    /// Where each key sits in `message.partition_key_table`: a repeated key is stored once.
    key_index: HashMap<String, u64>,
    /// `message.encoded_len()`, kept in step with every push.
    message_len: usize,
}

/// One record ready for PutRecords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregated {
    /// The first user record's key: it decides the shard, so the caller must only aggregate
    /// records bound for one shard.
    pub partition_key: String,
    /// A KPL aggregate, or, when it holds one user record, that record's data unchanged: a
    /// lone record gains nothing from the envelope, and the KPL sends it plain too.
    pub data: Vec<u8>,
    /// How many user records it carries, for metrics and checkpointing.
    pub user_records: usize,
}

impl Aggregator {
    /// An empty aggregator; `max_bytes` is usually Kinesis's 1 MiB record limit.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            message: AggregatedRecord::default(),
            key_index: HashMap::new(),
            message_len: 0,
        }
    }

    /// Adds one user record. If it would not fit in the current aggregate, returns the current
    /// aggregate finished (without it) and starts a new one with it.
    ///
    /// A record that does not [fit alone](Self::fits_alone) still goes out, on its own and
    /// plain, at the next push or finish: no aggregate of two or more records ever exceeds
    /// `max_bytes`.
    pub fn push(&mut self, partition_key: &str, data: &[u8]) -> Option<Aggregated> {
        let finished = match self.message.partition_key_table.first() {
            Some(first) => {
                let grown = self.message_len + self.added_len(partition_key, data.len());
                (framed_len(grown, first) > self.max_bytes)
                    .then(|| self.finish())
                    .flatten()
            }
            None => None,
        };
        self.insert(partition_key, data);
        finished
    }

    /// Whether a record can go in an aggregate at all (an aggregate of it alone fits in
    /// `max_bytes`); [`Aggregator::push`] sends it plain otherwise.
    #[cfg(test)]
    pub fn fits_alone(&self, partition_key: &str, data: &[u8]) -> bool {
        let message_len = key_entry_len(partition_key) + record_entry_len(0, data.len());
        framed_len(message_len, partition_key) <= self.max_bytes
    }

    /// Ends the current aggregate and empties the aggregator; `None` when it held nothing.
    pub fn finish(&mut self) -> Option<Aggregated> {
        let user_records = self.len();
        let message_len = std::mem::take(&mut self.message_len);
        let message = std::mem::take(&mut self.message);
        self.key_index.clear();
        let partition_key = message.partition_key_table.first()?.clone();
        let data = if user_records == 1 {
            message.records.into_iter().next()?.data
        } else {
            let body = message.encode_to_vec();
            debug_assert_eq!(body.len(), message_len, "tracked length drifted");
            frame(&body)
        };
        Some(Aggregated {
            partition_key,
            data,
            user_records,
        })
    }

    /// User records held.
    pub fn len(&self) -> usize {
        self.message.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.message.records.is_empty()
    }

    /// What [`finish`](Self::finish) would return now, in Kinesis bytes (data plus key).
    pub fn encoded_len(&self) -> usize {
        let Some(first) = self.message.partition_key_table.first() else {
            return 0;
        };
        match self.message.records.as_slice() {
            [only] => only.data.len() + first.len(),
            _ => framed_len(self.message_len, first),
        }
    }

    /// Protobuf bytes that adding this record to the current message would add.
    fn added_len(&self, partition_key: &str, data_len: usize) -> usize {
        match self.key_index.get(partition_key) {
            Some(&index) => record_entry_len(index, data_len),
            None => {
                let index = self.message.partition_key_table.len() as u64;
                key_entry_len(partition_key) + record_entry_len(index, data_len)
            }
        }
    }

    fn insert(&mut self, partition_key: &str, data: &[u8]) {
        self.message_len += self.added_len(partition_key, data.len());
        let table = &mut self.message.partition_key_table;
        let index = *self
            .key_index
            .entry(partition_key.to_owned())
            .or_insert_with(|| {
                table.push(partition_key.to_owned());
                table.len() as u64 - 1
            });
        self.message.records.push(Record {
            partition_key_index: index,
            explicit_hash_key_index: None,
            data: data.to_vec(),
            tags: Vec::new(),
        });
    }
}

/// Wraps an encoded `AggregatedRecord` as the KCL expects it: magic, message, MD5 of message.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
    data.extend_from_slice(&MAGIC);
    data.extend_from_slice(body);
    data.extend_from_slice(&Md5::digest(body));
    data
}

/// Kinesis bytes of an aggregate whose protobuf is `message_len` long, sent under `key`.
fn framed_len(message_len: usize, key: &str) -> usize {
    MAGIC.len() + message_len + DIGEST_LEN + key.len()
}

/// One `partition_key_table` entry: tag, length, UTF-8 bytes.
fn key_entry_len(key: &str) -> usize {
    key_len(1) + encoded_len_varint(key.len() as u64) + key.len()
}

/// One `records` entry: tag, length, then the Record (its index, always present as proto2
/// `required`, and its data).
fn record_entry_len(key_index: u64, data_len: usize) -> usize {
    let record = key_len(1)
        + encoded_len_varint(key_index)
        + key_len(3)
        + encoded_len_varint(data_len as u64)
        + data_len;
    key_len(3) + encoded_len_varint(record as u64) + record
}

/// One user record read back out of a Kinesis record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    /// Only the KPL's own producer sets these; we never do.
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// A record carried the KPL magic number but is not a sound aggregate.
#[derive(Debug, thiserror::Error)]
pub enum DeaggregateError {
    #[error(
        "KPL aggregate is {len} bytes, shorter than its magic number and MD5 digest (20 bytes)"
    )]
    Truncated { len: usize },
    #[error(
        "KPL aggregate's MD5 digest does not match its protobuf message: the record is corrupt"
    )]
    DigestMismatch,
    #[error("KPL aggregate's protobuf message does not decode: {0}")]
    Malformed(#[from] prost::DecodeError),
    #[error(
        "user record {record} of a KPL aggregate points at {table} {index}, but the table has {len} entries"
    )]
    IndexOutOfTable {
        record: usize,
        table: &'static str,
        index: u64,
        len: usize,
    },
}

/// Splits one Kinesis record into its user records: a KPL aggregate (magic, protobuf, valid
/// MD5) gives its records in order; anything without the magic number is one plain record
/// under `partition_key`.
///
/// Unlike the KCL, which quietly treats a digest mismatch as plain data, this says so: our
/// records are JSON and never start with the magic, so a mismatch means corruption.
pub fn deaggregate(partition_key: &str, data: &[u8]) -> Result<Vec<UserRecord>, DeaggregateError> {
    let Some(rest) = data.strip_prefix(&MAGIC) else {
        return Ok(vec![UserRecord {
            partition_key: partition_key.to_owned(),
            explicit_hash_key: None,
            data: data.to_vec(),
        }]);
    };
    let body_len = rest
        .len()
        .checked_sub(DIGEST_LEN)
        .ok_or(DeaggregateError::Truncated { len: data.len() })?;
    let (body, digest) = rest.split_at(body_len);
    if Md5::digest(body).as_slice() != digest {
        return Err(DeaggregateError::DigestMismatch);
    }
    let AggregatedRecord {
        partition_key_table,
        explicit_hash_key_table,
        records,
    } = AggregatedRecord::decode(body)?;
    let lookup = |record, table: &'static str, keys: &[String], index: u64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| keys.get(i))
            .cloned()
            .ok_or(DeaggregateError::IndexOutOfTable {
                record,
                table,
                index,
                len: keys.len(),
            })
    };
    records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            Ok(UserRecord {
                partition_key: lookup(
                    i,
                    "partition key",
                    &partition_key_table,
                    record.partition_key_index,
                )?,
                explicit_hash_key: record
                    .explicit_hash_key_index
                    .map(|index| lookup(i, "explicit hash key", &explicit_hash_key_table, index))
                    .transpose()?,
                data: record.data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys from a small pool (so they repeat and the table de-duplicates, and past 128 entries
    /// so indices take two varint bytes) or arbitrary Unicode (multi-byte UTF-8).
    fn user_records() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        let unicode = proptest::collection::vec(any::<char>(), 1..60).prop_map(String::from_iter);
        let key = prop_oneof![(0..300u32).prop_map(|n| format!("k{n}")), unicode];
        let len = prop_oneof![30 => 0..200usize, 1 => 0..20_000usize];
        let data = (any::<u8>(), len).prop_map(|(byte, len)| vec![byte; len]);
        proptest::collection::vec((key, data), 1..300)
    }

    fn max_bytes() -> impl Strategy<Value = usize> {
        prop_oneof![64..4_000usize, 4_000..1_100_000usize]
    }

    /// The caller's loop: everything pushed, then the tail finished.
    fn pack(max_bytes: usize, records: &[(String, Vec<u8>)]) -> Vec<Aggregated> {
        let mut aggregator = Aggregator::new(max_bytes);
        let mut out: Vec<Aggregated> = records
            .iter()
            .filter_map(|(key, data)| aggregator.push(key, data))
            .collect();
        out.extend(aggregator.finish());
        out
    }

    fn kinesis_len(a: &Aggregated) -> usize {
        a.data.len() + a.partition_key.len()
    }

    proptest! {
        #[test]
        fn tracked_length_matches_the_finished_bytes(records in user_records(), max in max_bytes()) {
            let mut aggregator = Aggregator::new(max);
            for (key, data) in &records {
                let before = aggregator.encoded_len();
                if let Some(done) = aggregator.push(key, data) {
                    prop_assert_eq!(kinesis_len(&done), before);
                }
                prop_assert_eq!(aggregator.message_len, aggregator.message.encoded_len());
            }
            let before = aggregator.encoded_len();
            let done = aggregator.finish().map(|a| kinesis_len(&a));
            prop_assert_eq!(done, Some(before));
            prop_assert_eq!(aggregator.encoded_len(), 0);
        }

        #[test]
        fn aggregates_round_trip_in_order(records in user_records(), max in max_bytes()) {
            let mut back = Vec::new();
            for a in pack(max, &records) {
                let users = deaggregate(&a.partition_key, &a.data)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(users.len(), a.user_records);
                back.extend(users.into_iter().map(|u| (u.partition_key, u.data)));
            }
            prop_assert_eq!(back, records);
        }

        #[test]
        fn aggregates_stay_within_max_bytes_and_are_full(records in user_records(), max in max_bytes()) {
            let packed = pack(max, &records);
            let mut start = 0;
            for a in &packed {
                let held = &records[start..start + a.user_records];
                start += a.user_records;
                if a.user_records == 1 {
                    prop_assert_eq!(&a.data, &held[0].1, "a lone record goes plain");
                } else {
                    prop_assert!(kinesis_len(a) <= max);
                }
                if let Some(next) = records.get(start) {
                    let mut with_next = Aggregator::new(usize::MAX);
                    for (key, data) in held.iter().chain([next]) {
                        with_next.push(key, data);
                    }
                    prop_assert!(with_next.encoded_len() > max, "the next record would have fit");
                }
            }
            prop_assert_eq!(start, records.len());
        }
    }

    #[test]
    fn two_records_encode_to_the_kpl_bytes() {
        let mut aggregator = Aggregator::new(1024);
        assert!(aggregator.push("a", b"x").is_none());
        assert!(aggregator.push("b", b"yz").is_none());
        let a = aggregator.finish().expect("two records held");
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0xF3, 0x89, 0x9A, 0xC2,             // magic
            0x0A, 0x01, b'a',                   // partition_key_table[0] = "a" (field 1, LEN)
            0x0A, 0x01, b'b',                   // partition_key_table[1] = "b"
            0x1A, 0x05,                         // records[0] (field 3, LEN 5)
            0x08, 0x00,                         //   partition_key_index = 0 (required: on the wire)
            0x1A, 0x01, b'x',                   //   data = "x" (field 3, LEN 1)
            0x1A, 0x06,                         // records[1] (field 3, LEN 6)
            0x08, 0x01,                         //   partition_key_index = 1
            0x1A, 0x02, b'y', b'z',             //   data = "yz"
            // md5 of the 21 protobuf bytes above (md5sum)
            0x6f, 0xe1, 0xbc, 0x14, 0x07, 0xaa, 0xbc, 0x41,
            0xe3, 0xe0, 0xc8, 0x8f, 0x3f, 0x66, 0x8b, 0xaf,
        ];
        assert_eq!(a.data, expected);
        assert_eq!(a.partition_key, "a");
        assert_eq!(a.user_records, 2);
    }

    #[test]
    fn repeated_keys_share_one_table_entry() {
        let mut aggregator = Aggregator::new(1024);
        for data in [b"1", b"2", b"3"] {
            aggregator.push("same", data);
        }
        aggregator.push("other", b"4");
        assert_eq!(aggregator.message.partition_key_table, ["same", "other"]);
        let indices: Vec<u64> = aggregator
            .message
            .records
            .iter()
            .map(|r| r.partition_key_index)
            .collect();
        assert_eq!(indices, [0, 0, 0, 1]);
    }

    #[test]
    fn a_record_too_big_to_aggregate_goes_out_plain_and_alone() {
        let mut aggregator = Aggregator::new(100);
        let big = vec![b'B'; 90];
        assert!(!aggregator.fits_alone("k", &big));
        assert!(aggregator.fits_alone("k", b"small"));
        assert!(aggregator.push("k", b"small").is_none());
        let first = aggregator.push("k", &big).expect("small flushed");
        assert_eq!(
            (first.data.as_slice(), first.user_records),
            (&b"small"[..], 1)
        );
        let second = aggregator.push("k", b"after").expect("big flushed");
        assert_eq!((second.data, second.user_records), (big, 1));
    }

    #[test]
    fn a_corrupted_digest_or_body_is_an_error() {
        let a = pack(
            1024,
            &[("a".into(), b"x".to_vec()), ("b".into(), b"yz".to_vec())],
        );
        for at in [a[0].data.len() - 1, MAGIC.len() + 2] {
            let mut bad = a[0].data.clone();
            bad[at] ^= 0x01;
            let err = deaggregate("a", &bad).expect_err("corruption must be noticed");
            assert!(matches!(err, DeaggregateError::DigestMismatch), "{err}");
        }
        let err = deaggregate("a", &MAGIC).expect_err("no room for a digest");
        assert!(
            matches!(err, DeaggregateError::Truncated { len: 4 }),
            "{err}"
        );
    }

    #[test]
    fn an_index_outside_the_table_is_an_error() {
        let record = |partition_key_index, explicit_hash_key_index| Record {
            partition_key_index,
            explicit_hash_key_index,
            data: b"x".to_vec(),
            tags: vec![],
        };
        let message = |records| {
            let body = AggregatedRecord {
                partition_key_table: vec!["a".into()],
                explicit_hash_key_table: vec!["42".into()],
                records,
            };
            frame(&body.encode_to_vec())
        };
        let good = record(0, Some(0));
        let users = deaggregate("ignored", &message(vec![good.clone()])).expect("valid");
        let expected = UserRecord {
            partition_key: "a".into(),
            explicit_hash_key: Some("42".into()),
            data: b"x".to_vec(),
        };
        assert_eq!(users, [expected]);
        for (bad, table) in [
            (record(3, None), "partition key"),
            (record(0, Some(3)), "explicit hash key"),
        ] {
            let err =
                deaggregate("a", &message(vec![good.clone(), bad])).expect_err("index 3 of 1");
            assert!(
                matches!(err, DeaggregateError::IndexOutOfTable { record: 1, index: 3, len: 1, table: t } if t == table),
                "{err}"
            );
        }
    }

    #[test]
    fn non_kpl_data_deaggregates_to_itself() {
        for data in [&b"{\"upc\":\"1\"}\n"[..], b"", &MAGIC[..3]] {
            let users = deaggregate("k", data).expect("plain data is never an error");
            assert_eq!(
                users,
                [UserRecord {
                    partition_key: "k".into(),
                    explicit_hash_key: None,
                    data: data.to_vec()
                }]
            );
        }
    }
}
