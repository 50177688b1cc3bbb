//! Which shard a partition key lands on: Kinesis hashes the key with MD5, reads the digest as
//! a 128-bit big-endian number, and sends the record to the open shard whose hash-key range
//! holds it. Knowing that ahead of time lets the backfill keep each shard under its own limit.

use md5::{Digest, Md5};

use super::Stream;
use crate::aws::ErrorKind;

/// One open shard and the hash keys it owns (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    pub start: u128,
    pub end: u128,
}

/// The open shards of a stream, sorted by hash-key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    shards: Vec<Shard>,
}

/// The stream's shards could not be read or made no sense.
#[derive(Debug, thiserror::Error)]
pub enum ShardMapError {
    #[error(
        "Kinesis stream `{stream}` not found at {endpoint} (create it, or check the stream name and region)"
    )]
    StreamNotFound { stream: String, endpoint: String },
    #[error("ListShards on stream `{stream}`: {message}")]
    Api {
        stream: String,
        kind: ErrorKind,
        message: String,
    },
    #[error("stream `{stream}` has no open shard")]
    NoOpenShard { stream: String },
    #[error("shard {shard} of stream `{stream}` has an unreadable hash-key range: {message}")]
    BadRange {
        stream: String,
        shard: String,
        message: String,
    },
}

/// The hash key Kinesis derives from a partition key.
pub fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

impl ShardMap {
    /// A map of the given open shards. Gaps or overlaps are tolerated (a key outside every
    /// range goes to the nearest shard below it); Kinesis itself never leaves any.
    pub fn new(mut shards: Vec<Shard>) -> Option<ShardMap> {
        if shards.is_empty() {
            return None;
        }
        shards.sort_by_key(|s| s.start);
        Some(ShardMap { shards })
    }

    /// Index (into [`ShardMap::shards`]) of the shard that receives `partition_key`.
    pub fn shard_for(&self, partition_key: &str) -> usize {
        let key = hash_key(partition_key);
        // The last shard whose range starts at or below the key.
        self.shards
            .partition_point(|s| s.start <= key)
            .saturating_sub(1)
    }

    #[cfg(test)]
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Open shards (never 0: [`ShardMap::new`] refuses an empty map).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Index of the shard called `id`, if it is open in this map.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.shards.iter().position(|s| s.id == id)
    }

    /// Reads the open shards of `to` (every page of ListShards).
    pub async fn load(to: &Stream) -> Result<ShardMap, ShardMapError> {
        let (client, stream, endpoint) = (&to.client, to.name.as_str(), to.endpoint.as_str());
        let mut open = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                // Kinesis refuses a stream name together with a continuation token.
                Some(token) => client.list_shards().next_token(token),
                None => client.list_shards().stream_name(stream),
            };
            let page = request.send().await.map_err(|e| {
                let e = crate::aws::classify(&e);
                match e.kind {
                    ErrorKind::NotFound => ShardMapError::StreamNotFound {
                        stream: stream.to_owned(),
                        endpoint: endpoint.to_owned(),
                    },
                    kind => ShardMapError::Api {
                        stream: stream.to_owned(),
                        kind,
                        message: e.message,
                    },
                }
            })?;
            for shard in page.shards.unwrap_or_default() {
                let closed = shard
                    .sequence_number_range
                    .as_ref()
                    .is_some_and(|r| r.ending_sequence_number.is_some());
                if closed {
                    continue;
                }
                let range = shard.hash_key_range.as_ref();
                let parse = |s: Option<&str>, which: &str| {
                    s.unwrap_or_default()
                        .parse::<u128>()
                        .map_err(|e| ShardMapError::BadRange {
                            stream: stream.to_owned(),
                            shard: shard.shard_id.clone(),
                            message: format!("{which} hash key: {e}"),
                        })
                };
                open.push(Shard {
                    start: parse(range.map(|r| r.starting_hash_key.as_str()), "starting")?,
                    end: parse(range.map(|r| r.ending_hash_key.as_str()), "ending")?,
                    id: shard.shard_id,
                });
            }
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        ShardMap::new(open).ok_or_else(|| ShardMapError::NoOpenShard {
            stream: stream.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` shards splitting the hash-key space evenly, as CreateStream does.
    fn even(n: u128) -> ShardMap {
        let step = u128::MAX / n;
        ShardMap::new(
            (0..n)
                .map(|i| Shard {
                    id: format!("shardId-{i:012}"),
                    start: i * step,
                    end: if i + 1 == n {
                        u128::MAX
                    } else {
                        (i + 1) * step - 1
                    },
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn hash_key_is_md5_read_big_endian() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(hash_key(""), 0xd41d8cd98f00b204e9800998ecf8427e);
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(hash_key("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    #[test]
    fn keys_go_to_the_shard_whose_range_holds_their_hash() {
        let map = even(4);
        for key in ["a", "", "a897fe39b1053632", "No", "bookstream"] {
            let h = hash_key(key);
            let i = map.shard_for(key);
            let s = &map.shards()[i];
            assert!(s.start <= h && h <= s.end, "{key}: {h:x} not in {s:?}");
        }
        assert_eq!(map.shard_for("a"), 0, "0x0c... is in the first quarter");
        assert_eq!(map.shard_for(""), 3, "0xd4... is in the last quarter");
    }

    #[test]
    fn many_keys_spread_over_the_shards_and_one_key_pins_one_shard() {
        let map = even(4);
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[map.shard_for(&format!("{i:016x}"))] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        let fixed: std::collections::HashSet<usize> =
            (0..100).map(|_| map.shard_for("No")).collect();
        assert_eq!(fixed.len(), 1);
    }

    #[test]
    fn an_empty_map_is_refused_and_ids_are_found() {
        assert!(ShardMap::new(Vec::new()).is_none());
        let map = even(2);
        assert_eq!(map.index_of("shardId-000000000001"), Some(1));
        assert_eq!(map.index_of("shardId-000000000009"), None);
    }
}
