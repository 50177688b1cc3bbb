//! The record schema, derived from the record types themselves (`Book`, `ChangeEvent`, through
//! their `schemars::JsonSchema` derives), never kept by hand: `bookstream schema` prints it as a
//! JSON Schema (draft 2020-12, for validators), as Glue/Hive columns (what the CloudFormation
//! template's table holds, checked by tests/template/check_lake.py) and as Athena DDL.
//!
//! One schema covers both modes: the book's fields in record order (every one always present,
//! `null` when unknown), then the change feed's `event`, `changed_fields`, `previous` (a struct
//! of the book's fields: the old values of those that changed), `detected_at` and `event_id`,
//! absent (so `null` in a table) in catalogue mode. No other key is allowed: a field added to a
//! record without a schema to go with it fails validation instead of being dropped downstream
//! (Firehose's Parquet conversion drops unknown fields without a word).

mod athena;
mod glue;

use serde_json::{Map, Value, json};

use crate::catalogue::Book;
use crate::changes::ChangeEvent;
use crate::cli::{SchemaArgs, SchemaFormat};

pub use athena::create_table;
pub use glue::{Column, columns};

/// The Glue database and table the template creates, and the default `--format athena` names.
pub const TABLE: &str = "records";
/// The S3 prefix Firehose writes under (`json_data/YYYY/MM/DD/HH/`).
pub const PREFIX: &str = "json_data/";

/// A field named `*_at` holds a time: RFC 3339 in UTC with a `Z`, as `crate::catalogue::Timestamp` writes.
const TIME_SUFFIX: &str = "_at";
/// What a time looks like (draft 2020-12 `format` is an annotation only; the pattern checks).
pub const TIME_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$";
/// The change-feed field that holds old values of book fields.
const PREVIOUS: &str = "previous";
/// The change-feed field that names book fields.
const CHANGED_FIELDS: &str = "changed_fields";

/// Why a schema could not be made or printed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the derived schema of {of} has no `properties` object: {schema}")]
    NoProperties { of: &'static str, schema: String },
    #[error("field `{field}`: no Glue/Hive type for its schema {schema}")]
    Unmappable { field: String, schema: String },
    #[error("write the schema to stdout: {0}")]
    Stdout(std::io::Error),
}

/// The properties (in record order) of `T`'s derived schema, subschemas inlined.
fn derived_properties<T: schemars::JsonSchema>(
    of: &'static str,
) -> Result<Map<String, Value>, SchemaError> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<T>().to_value();
    match schema.get("properties") {
        Some(Value::Object(p)) => Ok(p.clone()),
        _ => Err(SchemaError::NoProperties {
            of,
            schema: schema.to_string(),
        }),
    }
}

/// A field's derived schema with what the type system cannot say: times carry their format.
fn refine(name: &str, mut field: Value) -> Value {
    if name.ends_with(TIME_SUFFIX)
        && let Some(obj) = field.as_object_mut()
    {
        obj.insert("format".into(), json!("date-time"));
        obj.insert("pattern".into(), json!(TIME_PATTERN));
    }
    field
}

/// The book's fields (record order), each as the schema of its value.
fn book_properties() -> Result<Map<String, Value>, SchemaError> {
    Ok(derived_properties::<Book>("Book")?
        .into_iter()
        .map(|(k, v)| {
            let v = refine(&k, v);
            (k, v)
        })
        .collect())
}

/// The schema of one record of either mode, draft 2020-12.
pub fn json_schema() -> Result<Value, SchemaError> {
    let book = book_properties()?;
    let mut properties = Map::new();
    for (name, field) in derived_properties::<ChangeEvent>("ChangeEvent")? {
        let field = if name == PREVIOUS {
            // A map of book fields to their old values: the book's fields, each optional.
            json!({
                "description": field.get("description").cloned().unwrap_or(Value::Null),
                "type": "object",
                "properties": book,
                "additionalProperties": false,
            })
        } else if name == CHANGED_FIELDS {
            let mut field = field;
            field["items"] = json!({"type": "string", "enum": book.keys().collect::<Vec<_>>()});
            field
        } else {
            refine(&name, field)
        };
        properties.insert(name, field);
    }
    let required: Vec<&String> = book.keys().collect();
    Ok(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bookstream record",
        "description": "One Kinesis record of bookstream, catalogue mode (the book's fields) or changes mode (the book's fields, then event, changed_fields, previous, detected_at, event_id).",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    }))
}

/// `bookstream schema --format ...`: prints the schema on stdout.
pub fn run(args: &SchemaArgs) -> Result<(), SchemaError> {
    let schema = json_schema()?;
    let text = match args.format {
        SchemaFormat::JsonSchema => pretty(&schema),
        SchemaFormat::Glue => pretty(&serde_json::to_value(columns(&schema)?).unwrap_or_default()),
        SchemaFormat::Athena => create_table(&columns(&schema)?, &args.table, &args.location),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        // `bookstream schema | head`: the reader had what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done.map_err(SchemaError::Stdout),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[cfg(test)]
mod tests;
