//! JSON text handled as text: where strings start and end, removing insignificant whitespace,
//! and reading one or two top-level fields without building the object. The backfill's hot path: book-sized records
//! at hundreds of thousands a second, where decoding each into a `serde_json::Value` (a map of
//! owned strings) and writing it back out cost more than everything else.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// `json` without the whitespace between tokens; strings (and their escapes) are kept as they
/// are. The input must be valid JSON (the caller checked it). Strings are crossed with
/// `memchr2` (next quote or backslash) rather than byte by byte: most of a record's bytes are
/// inside strings. The result has room for one more byte, the delimiter a record may end with.
pub fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 1);
    // `json[start..i]` is kept and not yet copied.
    let mut start = 0;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => i = string_end(json, i + 1),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&json[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&json[start..]);
    out
}

/// The index just past the closing quote of the string whose contents start at `from` (the
/// end of `json` if it is cut short).
fn string_end(json: &[u8], mut from: usize) -> usize {
    while let Some(k) = memchr::memchr2(b'"', b'\\', &json[from..]) {
        let at = from + k;
        if json[at] == b'"' {
            return at + 1;
        }
        // A backslash: the next byte is escaped, whatever it is.
        from = at + 2;
        if from >= json.len() {
            return json.len();
        }
    }
    json.len()
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
    let fields = de::Deserializer::deserialize_map(&mut de, FieldsVisitor { key_field })
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(fields)
}

/// Reads the object's keys in place and builds only the two wanted values.
struct FieldsVisitor<'k> {
    key_field: &'k str,
}

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut out = Fields::default();
        let names = Names {
            key_field: self.key_field,
        };
        while let Some(name) = map.next_key_seed(names)? {
            match name {
                Name::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                Name::Key => out.key = map.next_value::<Scalar>()?.0,
                Name::Upc => out.upc = map.next_value::<Scalar>()?.0,
                Name::Both => {
                    let value = map.next_value::<Scalar>()?.0;
                    out.key.clone_from(&value);
                    out.upc = value;
                }
            }
        }
        Ok(out)
    }
}

/// Which of the wanted fields an object key names.
enum Name {
    Key,
    Upc,
    /// The partition-key field is `upc` itself.
    Both,
    Other,
}

/// Reads an object key as a [`Name`], comparing it where it lies: no key is allocated (a
/// record has a dozen, and only one or two are wanted).
#[derive(Clone, Copy)]
struct Names<'k> {
    key_field: &'k str,
}

impl<'de> DeserializeSeed<'de> for Names<'_> {
    type Value = Name;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Name, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Names<'_> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Name, E> {
        Ok(match (name == self.key_field, name == "upc") {
            (true, true) => Name::Both,
            (true, false) => Name::Key,
            (false, true) => Name::Upc,
            (false, false) => Name::Other,
        })
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
    use proptest::prelude::*;

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

    /// Strings full of what a scan can trip on: quotes, backslashes, spaces, newlines
    /// (escaped by the writer), brackets, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a \"\\\\\n\t{}:,\\[\\]é€]{0,12}").expect("regex")
    }

    /// JSON values made of such strings, numbers, booleans and nulls, nested.
    fn values() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            text().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::vec((text(), inner), 0..6)
                    .prop_map(|pairs| { serde_json::Value::Object(pairs.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #[test]
        fn minified_pretty_text_is_the_compact_text(value in values()) {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let compact = serde_json::to_string(&value).unwrap();
            prop_assert_eq!(String::from_utf8(minify(pretty.as_bytes())).unwrap(), compact);
        }
    }

    #[test]
    fn an_escaped_backslash_before_a_quote_ends_the_string() {
        let text = b"[ \"a\\\\\" , \"b\\\"\\\\ c\" , \"\\u0020 \" ]";
        assert_eq!(
            minify(text),
            b"[\"a\\\\\",\"b\\\"\\\\ c\",\"\\u0020 \"]".to_vec()
        );
        // A string cut short (never valid JSON, but never a panic either).
        assert_eq!(minify(b"\"a \\"), b"\"a \\".to_vec());
    }

    #[test]
    fn an_escaped_key_is_read_by_what_it_spells() {
        let f = fields(br#"{"u\u0070c": "abc", "\u006b": 1.5e3}"#, "k").unwrap();
        assert_eq!(
            f,
            Fields {
                key: Some("1500.0".into()),
                upc: Some("abc".into())
            }
        );
        let both = fields(br#"{"upc": "abc"}"#, "upc").unwrap();
        assert_eq!(both.key.as_deref(), Some("abc"));
        assert_eq!(both.upc.as_deref(), Some("abc"));
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
