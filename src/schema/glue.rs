//! The JSON Schema's properties as Glue/Hive columns: strings `string`, numbers `double`,
//! integers `int` when their range fits 32 bits (else `bigint`), booleans `boolean`, arrays
//! `array<...>`, objects with properties `struct<...>`. Nullability is not a Hive type: every
//! column may be null. A schema with no such type is an error naming the field, never a guess.

use serde::Serialize;
use serde_json::Value;

use super::SchemaError;

/// One column as `AWS::Glue::Table` `Columns` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub hive_type: String,
}

/// The top-level properties of `schema` (from [`super::json_schema`]) as columns, in order.
pub fn columns(schema: &Value) -> Result<Vec<Column>, SchemaError> {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Err(SchemaError::NoProperties {
            of: "record",
            schema: schema.to_string(),
        });
    };
    properties
        .iter()
        .map(|(name, field)| {
            Ok(Column {
                name: name.clone(),
                hive_type: hive_type(name, field)?,
            })
        })
        .collect()
}

fn unmappable(field: &str, schema: &Value) -> SchemaError {
    SchemaError::Unmappable {
        field: field.to_owned(),
        schema: schema.to_string(),
    }
}

/// The JSON types a schema allows, `null` left out.
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|t| *t != "null")
    .collect()
}

fn hive_type(field: &str, schema: &Value) -> Result<String, SchemaError> {
    // An enum with documented variants: `oneOf` branches, which must agree on one type.
    if let Some(Value::Array(branches)) = schema.get("oneOf").or_else(|| schema.get("anyOf")) {
        let mapped: Result<Vec<String>, SchemaError> =
            branches.iter().map(|b| hive_type(field, b)).collect();
        let mapped = mapped?;
        return match mapped.first() {
            Some(first) if mapped.iter().all(|m| m == first) => Ok(first.clone()),
            _ => Err(unmappable(field, schema)),
        };
    }
    let ts = types(schema);
    let [t] = ts.as_slice() else {
        return Err(unmappable(field, schema));
    };
    match *t {
        "string" => Ok("string".into()),
        "boolean" => Ok("boolean".into()),
        "number" => Ok("double".into()),
        "integer" => {
            let fits = |key: &str, bound: i64| {
                schema
                    .get(key)
                    .and_then(Value::as_i64)
                    .is_some_and(|v| if bound < 0 { v >= bound } else { v <= bound })
            };
            if fits("minimum", i64::from(i32::MIN)) && fits("maximum", i64::from(i32::MAX)) {
                Ok("int".into())
            } else {
                Ok("bigint".into())
            }
        }
        "array" => {
            let items = schema
                .get("items")
                .ok_or_else(|| unmappable(field, schema))?;
            Ok(format!("array<{}>", hive_type(field, items)?))
        }
        "object" => {
            let Some(Value::Object(props)) = schema.get("properties") else {
                return Err(unmappable(field, schema));
            };
            let inner: Result<Vec<String>, SchemaError> = props
                .iter()
                .map(|(k, v)| Ok(format!("{k}:{}", hive_type(&format!("{field}.{k}"), v)?)))
                .collect();
            Ok(format!("struct<{}>", inner?.join(",")))
        }
        _ => Err(unmappable(field, schema)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_int_when_their_range_fits_32_bits_else_bigint() {
        let small = json!({"type": ["integer", "null"], "minimum": 0, "maximum": 255});
        let big = json!({"type": "integer", "minimum": 0, "maximum": 4294967295u64});
        let open = json!({"type": "integer"});
        assert_eq!(hive_type("a", &small).unwrap(), "int");
        assert_eq!(hive_type("b", &big).unwrap(), "bigint");
        assert_eq!(hive_type("c", &open).unwrap(), "bigint");
    }

    #[test]
    fn a_schema_without_a_hive_type_is_an_error_naming_the_field() {
        let any = json!({"description": "anything"});
        let err = hive_type("blob", &any).unwrap_err().to_string();
        assert!(err.contains("`blob`"), "{err}");
        let mixed = json!({"type": ["string", "integer"]});
        assert!(hive_type("mixed", &mixed).is_err());
    }
}
