//! Reading a stream back, every shard: the operator's "is my data there?" check (`tail`).

use std::time::Duration;

use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types::ShardIteratorType;

use tokio_util::sync::CancellationToken;

/// Where to start reading each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One iterator per open shard.
struct Shards<'a> {
    client: &'a aws_sdk_kinesis::Client,
    stream: &'a str,
    iterators: Vec<(String, Option<String>)>,
}

impl<'a> Shards<'a> {
    async fn open(
        client: &'a aws_sdk_kinesis::Client,
        stream: &'a str,
        start: StartAt,
    ) -> Result<Shards<'a>, ReadError> {
        let shards = client
            .list_shards()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| api(stream, "ListShards", &e))?
            .shards
            .unwrap_or_default();
        let kind = match start {
            StartAt::TrimHorizon => ShardIteratorType::TrimHorizon,
            StartAt::Latest => ShardIteratorType::Latest,
        };
        let mut iterators = Vec::new();
        for shard in shards {
            let iterator = client
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(&shard.shard_id)
                .shard_iterator_type(kind.clone())
                .send()
                .await
                .map_err(|e| api(stream, "GetShardIterator", &e))?
                .shard_iterator;
            iterators.push((shard.shard_id, iterator));
        }
        Ok(Shards {
            client,
            stream,
            iterators,
        })
    }

    /// One GetRecords per open shard. Returns the records and whether every shard is caught up
    /// (an empty page at the tip) or closed.
    async fn poll(&mut self) -> Result<(Vec<ReadRecord>, bool), ReadError> {
        let mut out = Vec::new();
        let mut caught_up = true;
        for (shard_id, iterator) in &mut self.iterators {
            let Some(it) = iterator.take() else {
                continue;
            };
            let page = self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .map_err(|e| api(self.stream, "GetRecords", &e))?;
            let at_tip = page.millis_behind_latest.unwrap_or(0) == 0;
            caught_up &= page.records.is_empty() && at_tip;
            out.extend(page.records.into_iter().map(|r| ReadRecord {
                shard_id: shard_id.clone(),
                sequence_number: r.sequence_number,
                partition_key: r.partition_key.unwrap_or_default(),
                data: r.data.into_inner(),
            }));
            *iterator = page.next_shard_iterator;
        }
        Ok((out, caught_up))
    }
}

/// A failed call of `op`, as the AWS edge classifies it: the stream missing, or the message.
fn api<E>(stream: &str, op: &'static str, e: &SdkError<E>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let e = crate::aws::classify(e);
    match e.kind {
        crate::aws::ErrorKind::NotFound => ReadError::StreamNotFound {
            stream: stream.to_owned(),
        },
        _ => ReadError::Api {
            op,
            stream: stream.to_owned(),
            message: e.message,
        },
    }
}

/// Reads every shard from `start` until each is caught up (or `limit` records in all).
pub async fn read_all(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    start: StartAt,
    limit: Option<usize>,
) -> Result<Vec<ReadRecord>, ReadError> {
    let mut shards = Shards::open(client, stream, start).await?;
    let mut out = Vec::new();
    loop {
        let (records, caught_up) = shards.poll().await?;
        out.extend(records);
        if let Some(n) = limit.filter(|n| out.len() >= *n) {
            out.truncate(n);
            return Ok(out);
        }
        if caught_up {
            return Ok(out);
        }
    }
}

/// Reads every shard from `start` and hands each record to `each` as it arrives, polling once
/// a second at the tip, until shutdown or until `each` returns false.
pub async fn follow(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    start: StartAt,
    shutdown: &CancellationToken,
    mut each: impl FnMut(&ReadRecord) -> bool,
) -> Result<u64, ReadError> {
    let mut shards = Shards::open(client, stream, start).await?;
    let mut seen = 0u64;
    while !shutdown.is_cancelled() {
        let (records, caught_up) = shards.poll().await?;
        for r in &records {
            if !each(r) {
                return Ok(seen);
            }
            seen += 1;
        }
        if caught_up {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }
    Ok(seen)
}
