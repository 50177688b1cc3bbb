//! Reading a stream back, every shard: the operator's "is my data there?" check (`tail`).

use aws_sdk_kinesis::types::ShardIteratorType;

/// Where to start reading each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartAt {
    /// The oldest record still retained.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// Reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("Kinesis stream `{stream}` not found")]
    StreamNotFound { stream: String },
    #[error("{op} on stream `{stream}`: {message}")]
    Api {
        op: &'static str,
        stream: String,
        message: String,
    },
}

/// Reads every shard from `start` until each is caught up (or `limit` records in all).
pub async fn read_all(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    start: StartAt,
    limit: Option<usize>,
) -> Result<Vec<ReadRecord>, ReadError> {
    let api = |op, e: &dyn std::error::Error| ReadError::Api {
        op,
        stream: stream.to_owned(),
        message: crate::error_chain(e),
    };
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                ReadError::StreamNotFound {
                    stream: stream.to_owned(),
                }
            } else {
                api("ListShards", &e)
            }
        })?
        .shards
        .unwrap_or_default();
    let mut out = Vec::new();
    for shard in shards {
        let kind = match start {
            StartAt::TrimHorizon => ShardIteratorType::TrimHorizon,
            StartAt::Latest => ShardIteratorType::Latest,
        };
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&shard.shard_id)
            .shard_iterator_type(kind)
            .send()
            .await
            .map_err(|e| api("GetShardIterator", &e))?
            .shard_iterator;
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .map_err(|e| api("GetRecords", &e))?;
            let empty = page.records.is_empty();
            for r in page.records {
                out.push(ReadRecord {
                    shard_id: shard.shard_id.clone(),
                    sequence_number: r.sequence_number,
                    partition_key: r.partition_key.unwrap_or_default(),
                    data: r.data.into_inner(),
                });
                if limit.is_some_and(|n| out.len() >= n) {
                    return Ok(out);
                }
            }
            let caught_up = page.millis_behind_latest.unwrap_or(0) == 0;
            if empty && caught_up {
                break;
            }
            iterator = page.next_shard_iterator;
        }
    }
    Ok(out)
}
