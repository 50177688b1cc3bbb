//! JSON text handled as text: where strings start and end, removing insignificant whitespace,
//! and reading one or two top-level fields without building the object. The backfill's hot path: book-sized records
//! at hundreds of thousands a second, where decoding each into a `serde_json::Value` (a map of
//! owned strings) and writing it back out cost more than everything else.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// `json` without the whitespace between tokens; strings (and their escapes) are kept as they
/// are. The input must be valid JSON (the caller checked it).
pub fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut strings = Strings::default();
    let mut start = 0;
    for (i, &b) in json.iter().enumerate() {
        if strings.inside(b) {
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&json[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.extend_from_slice(&json[start..]);
    out
}

/// Follows JSON text byte by byte and tells which bytes belong to a string (its quotes
/// included), escapes and all; it may be fed across buffer boundaries.
#[derive(Debug, Default)]
pub struct Strings {
    in_string: bool,
    escaped: bool,
}

impl Strings {
    /// Whether `b`, the next byte, is part of a string.
    pub fn inside(&mut self, b: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return true;
        }
        self.in_string = b == b'"';
        self.in_string
    }
}

/// The fields the encoding needs: the partition-key field and the UPC (for the logs).
#[derive(Debug, Default, PartialEq)]
pub struct Fields {
    pub key: Option<String>,
    pub upc: Option<String>,
}

/// Reads `key_field` and `upc` from a JSON object (a non-empty string, or a number as written),
/// validating the whole text. Other fields are skipped without being built.
pub fn fields(json: &[u8], key_field: &str) -> Result<Fields, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let fields = FieldsSeed { key_field }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(fields)
}

struct FieldsSeed<'k> {
    key_field: &'k str,
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = Fields;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Fields, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut out = Fields::default();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            let is_key = name == self.key_field;
            let is_upc = name == "upc";
            if is_key || is_upc {
                let value = map.next_value::<Scalar>()?.0;
                if is_key {
                    out.key.clone_from(&value);
                }
                if is_upc {
                    out.upc = value;
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A field's value as a partition key: a non-empty string, or a number as written; anything
/// else is no key.
struct Scalar(Option<String>);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(Scalar(match value {
            serde_json::Value::String(s) if !s.is_empty() => Some(s),
            v @ serde_json::Value::Number(_) => Some(v.to_string()),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_goes_and_strings_stay() {
        let text = br#"{ "a" : "x y\" }" ,
            "b":[1, 2 ] }"#;
        assert_eq!(minify(text), br#"{"a":"x y\" }","b":[1,2]}"#.to_vec());
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&minify(text)).unwrap(),
            v
        );
    }

    #[test]
    fn fields_are_read_and_the_rest_is_validated() {
        let f = fields(br#"{"upc": "abc", "n": 12, "x": {"upc": "no"}}"#, "n").unwrap();
        assert_eq!(
            f,
            Fields {
                key: Some("12".into()),
                upc: Some("abc".into())
            }
        );
        let f = fields(br#"{"upc": "", "k": null}"#, "k").unwrap();
        assert_eq!(f, Fields::default());
        assert!(fields(br#"{"upc": "a", "x": [1,}"#, "upc").is_err());
        assert!(fields(br#"[1]"#, "upc").is_err());
    }
}
