//! The schema against records as the code serializes them: every key a record has is in the
//! schema, in the same order, and the columns have the types a query engine can use.

use serde_json::Value;

use super::*;

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn properties(schema: &Value) -> Vec<String> {
    keys(&schema["properties"])
}

/// A catalogue record and a `changed` event (price and stock) as the code serializes them.
fn records() -> (Value, Value) {
    let old = Book::sample("a897fe39b1053632");
    let mut new = old.clone();
    new.price = "£2.00".into();
    new.price_gbp = Some(2.0);
    new.stock = Some(0);
    new.availability = "Out of stock".into();
    let events = crate::changes::diff(
        &[old],
        std::slice::from_ref(&new),
        &"2026-11-28T12:10:04Z".parse().unwrap(),
    );
    let event = events
        .into_iter()
        .next()
        .expect("a changed book is one event");
    (
        serde_json::to_value(&new).unwrap(),
        serde_json::to_value(&event).unwrap(),
    )
}

#[test]
fn a_serialized_book_has_exactly_the_schemas_book_fields_in_order() {
    let schema = json_schema().unwrap();
    let (book, _) = records();
    let required: Vec<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys(&book), required, "every book field, always present");
    assert_eq!(properties(&schema)[..required.len()], required[..]);
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn a_serialized_change_event_has_no_key_outside_the_schema() {
    let schema = json_schema().unwrap();
    let (_, event) = records();
    assert_eq!(
        keys(&event),
        properties(&schema),
        "all keys, in record order"
    );
    let tail = &properties(&schema)[properties(&schema).len() - 5..];
    assert_eq!(
        tail,
        [
            "event",
            "changed_fields",
            "previous",
            "detected_at",
            "event_id"
        ]
    );
    let previous = keys(&event["previous"]);
    assert!(!previous.is_empty(), "{event}");
    let allowed = keys(&schema["properties"]["previous"]["properties"]);
    for k in &previous {
        assert!(allowed.contains(k), "previous.{k} is not in the schema");
    }
    assert_eq!(
        schema["properties"]["previous"]["additionalProperties"],
        false
    );
}

#[test]
fn the_columns_have_types_a_query_engine_can_use() {
    let schema = json_schema().unwrap();
    let cols = columns(&schema).unwrap();
    let ty = |name: &str| {
        cols.iter()
            .find(|c| c.name == name)
            .map(|c| c.hive_type.as_str())
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    assert_eq!(ty("title"), "string");
    assert_eq!(ty("price_gbp"), "double");
    assert_eq!(ty("rating"), "int");
    assert_eq!(ty("stock"), "bigint", "u32 does not fit Hive's int");
    assert_eq!(ty("scraped_at"), "string");
    assert_eq!(ty("event"), "string");
    assert_eq!(ty("changed_fields"), "array<string>");
    assert!(
        ty("previous").starts_with("struct<title:string,price:string,"),
        "{}",
        ty("previous")
    );
    assert_eq!(cols.len(), properties(&schema).len());
}

#[test]
fn times_are_utc_rfc3339_with_a_z() {
    let schema = json_schema().unwrap();
    for field in ["scraped_at", "detected_at"] {
        assert_eq!(schema["properties"][field]["format"], "date-time");
        assert_eq!(schema["properties"][field]["pattern"], TIME_PATTERN);
    }
}
