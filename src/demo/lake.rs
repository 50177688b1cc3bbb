//! The demo's last step: from the S3-shaped folder to a SQL answer. DuckDB (python3 `duckdb`)
//! reads the JSON Lines objects with the columns of `bookstream schema --format glue` and runs
//! the template's named query "bookstream current catalogue" as the template has it (DuckDB
//! reads that query's Athena text unchanged), through tests/lake/query.py, the script the lake
//! tests run.

use std::path::Path;

use serde_json::Value;

use super::DemoError;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lake/query.py");
const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/cloudformation.yaml");
const QUERY: &str = "CurrentCatalogueQuery";
/// Rows of the answer shown.
const SHOWN: usize = 5;

fn query_error(message: impl Into<String>) -> DemoError {
    DemoError::Query {
        script: SCRIPT.to_owned(),
        message: message.into(),
    }
}

/// Runs the query over `s3` (the folder holding `json_data/`) and prints it and its answer.
pub(super) async fn show(s3: &Path) -> Result<(), DemoError> {
    let schema = crate::schema::json_schema()?;
    let columns = serde_json::to_vec(&crate::schema::columns(&schema)?).unwrap_or_default();
    let columns_file = s3.join("glue-columns.json");
    std::fs::write(&columns_file, columns)
        .map_err(|e| query_error(format!("{}: {e}", columns_file.display())))?;
    let out = tokio::process::Command::new("python3")
        .arg(SCRIPT)
        .args(["--template", TEMPLATE, "--only", QUERY, "--as-is"])
        .arg("--columns")
        .arg(&columns_file)
        .arg("--root")
        .arg(s3)
        .output()
        .await
        .map_err(|e| query_error(format!("cannot run python3: {e}")))?;
    if !out.status.success() {
        return Err(query_error(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let answer: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| query_error(format!("its output is not JSON: {e}")))?;
    let sql = answer["queries"][QUERY].as_str().unwrap_or_default();
    let rows = answer["jsonl"][QUERY]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!(
        "the lake: DuckDB over {}/json_data/ (the Glue table's columns), the template's Athena query \"bookstream current catalogue\":",
        s3.display()
    );
    for line in sql.lines() {
        println!("  {line}");
    }
    println!(
        "{} books in the current catalogue (the latest record of each UPC, both streams); the first {SHOWN}:",
        rows.len()
    );
    for r in rows.iter().take(SHOWN) {
        println!(
            "  upc={}  {:<7} {:<12}  {:<16}  {}",
            r["upc"].as_str().unwrap_or("?"),
            r["price"].as_str().unwrap_or("?"),
            r["availability"].as_str().unwrap_or("?"),
            r["category"].as_str().unwrap_or("?"),
            r["title"].as_str().unwrap_or("?")
        );
    }
    let per: Vec<String> = answer["jsonl"]["BooksPerCategory"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    println!("books per category: {}", per.join(", "));
    Ok(())
}
