//! Kinesis: the paced producer loop, the backfill (PutRecords at the shards' limits), and
//! reading a stream back.
//! Knows nothing of HTML; records arrive here as bytes with a partition key. The client and
//! the meaning of its errors come from the AWS edge, [`crate::aws`].

pub mod aggregate;
pub mod backfill;
pub mod limit;
mod outcome;
pub mod pace;
pub mod producer;
pub mod reader;
pub mod shards;

use crate::config::{Delimiter, PartitionKey};

/// One stream and the client that reaches it: where the paced producer and the backfill send.
#[derive(Debug, Clone)]
pub struct Stream {
    client: aws_sdk_kinesis::Client,
    name: String,
    /// For messages: the local endpoint, or the AWS default.
    endpoint: String,
}

impl Stream {
    /// The stream `name` through `client`, which was sent to `endpoint` when one is given.
    pub fn new(client: aws_sdk_kinesis::Client, name: String, endpoint: Option<&url::Url>) -> Self {
        let endpoint = crate::aws::describe_endpoint(endpoint, "the AWS endpoint");
        Self {
            client,
            name,
            endpoint,
        }
    }
}

/// One record ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Compact JSON plus the configured delimiter.
    pub data: Vec<u8>,
    pub partition_key: String,
    /// What the logs call this record (the UPC for books).
    pub label: String,
}

/// Encodes one JSON object as a record: compact JSON, then the delimiter; the partition key is
/// either fixed or, for `{field}`, that field of the object (falling back to `fallback`).
pub fn encode(
    value: &serde_json::Value,
    delimiter: Delimiter,
    partition_key: &PartitionKey,
    fallback: &str,
) -> Outgoing {
    let mut data = serde_json::to_vec(value).unwrap_or_default();
    data.extend_from_slice(delimiter.bytes());
    let field = |name: &str| match value.get(name) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(v @ serde_json::Value::Number(_)) => Some(v.to_string()),
        _ => None,
    };
    let key = match partition_key {
        PartitionKey::Field(name) => field(name).unwrap_or_else(|| fallback.to_owned()),
        PartitionKey::Fixed(key) => key.clone(),
    };
    let label = field("upc").unwrap_or_else(|| fallback.to_owned());
    Outgoing {
        data,
        partition_key: truncate_key(key),
        label,
    }
}

/// As [`encode`], for an object given as JSON text (the backfill's input): the record is the
/// text with the whitespace between tokens removed (key order and number spelling kept as
/// written), and the key field is read without building the object. `Err` if the text is not
/// one valid JSON object.
pub fn encode_raw(
    json: &[u8],
    delimiter: Delimiter,
    partition_key: &PartitionKey,
    fallback: &str,
) -> Result<Outgoing, String> {
    let key_field = partition_key.field();
    let fields = crate::json_text::fields(json, key_field.unwrap_or("upc"))?;
    let mut data = crate::json_text::minify(json);
    data.extend_from_slice(delimiter.bytes());
    let key = match partition_key {
        PartitionKey::Field(_) => fields.key.unwrap_or_else(|| fallback.to_owned()),
        PartitionKey::Fixed(key) => key.clone(),
    };
    Ok(Outgoing {
        data,
        partition_key: truncate_key(key),
        label: fields.upc.unwrap_or_else(|| fallback.to_owned()),
    })
}

/// Kinesis partition keys are 1..=256 Unicode characters. Cut in place: a key is nearly
/// always short, and building a new one char by char cost the backfill 1.5% of its CPU.
fn truncate_key(mut key: String) -> String {
    if key.is_empty() {
        return "bookstream".to_owned();
    }
    if let Some((cut, _)) = key.char_indices().nth(256) {
        key.truncate(cut);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(template: &str) -> PartitionKey {
        PartitionKey::parse(template).unwrap()
    }

    #[test]
    fn records_are_compact_json_with_the_configured_delimiter() {
        let v = serde_json::json!({"title": "A", "price": "£1.00", "upc": "abc"});
        let none = encode(&v, Delimiter::None, &key("No"), "0");
        assert_eq!(
            String::from_utf8(none.data).unwrap(),
            r#"{"title":"A","price":"£1.00","upc":"abc"}"#
        );
        assert_eq!(none.partition_key, "No");
        let nl = encode(&v, Delimiter::Newline, &key("{upc}"), "0");
        assert!(nl.data.ends_with(b"}\n"));
        assert_eq!(nl.partition_key, "abc");
        assert_eq!(nl.label, "abc");
    }

    #[test]
    fn a_key_is_cut_to_256_characters_not_bytes() {
        let long = "é".repeat(300);
        assert_eq!(truncate_key(long).chars().count(), 256);
        let short = "é".repeat(256);
        assert_eq!(truncate_key(short.clone()), short);
        assert_eq!(truncate_key(String::new()), "bookstream");
    }

    #[test]
    fn raw_text_encodes_as_its_value_does() {
        let pretty = b"{\n  \"title\": \"A b\",\n  \"price\": \"\xc2\xa31.00\",\n  \"upc\": \"abc\",\n  \"n\": 7\n}";
        let value: serde_json::Value = serde_json::from_slice(pretty).unwrap();
        for (template, delimiter) in [
            ("{upc}", Delimiter::None),
            ("{n}", Delimiter::Newline),
            ("No", Delimiter::None),
        ] {
            let key = key(template);
            assert_eq!(
                encode_raw(pretty, delimiter, &key, "0").unwrap(),
                encode(&value, delimiter, &key, "0"),
                "{template}"
            );
        }
        assert_eq!(
            encode_raw(br#"{"title": "x"}"#, Delimiter::None, &key("{upc}"), "9")
                .unwrap()
                .partition_key,
            "9"
        );
        assert!(encode_raw(br#"{"a": }"#, Delimiter::None, &key("{upc}"), "0").is_err());
    }

    #[test]
    fn missing_key_field_falls_back() {
        let v = serde_json::json!({"title": "A"});
        assert_eq!(
            encode(&v, Delimiter::None, &key("{upc}"), "7").partition_key,
            "7"
        );
    }
}
