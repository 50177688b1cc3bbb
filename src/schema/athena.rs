//! `bookstream schema --format athena`: a complete `CREATE EXTERNAL TABLE` over the Firehose
//! objects, read by the OpenX JSON SerDe (one JSON object per line), with Athena partition
//! projection on the `YYYY/MM/DD/HH` folders Firehose writes: no crawler, no `MSCK REPAIR`, no
//! partition added by hand. The same properties as the Glue table in
//! packaging/cloudformation.yaml.

use super::Column;

/// The partition column: the folder `YYYY/MM/DD/HH` (UTC arrival hour) as a string.
pub const PARTITION: &str = "dt";
/// The projection's properties, in order (the template's `Parameters` hold the same).
pub fn projection(location: &str) -> Vec<(String, String)> {
    let location = location.trim_end_matches('/');
    [
        ("projection.enabled", "true".to_owned()),
        ("projection.dt.type", "date".to_owned()),
        ("projection.dt.format", "yyyy/MM/dd/HH".to_owned()),
        ("projection.dt.range", "2026/01/01/00,NOW".to_owned()),
        ("projection.dt.interval", "1".to_owned()),
        ("projection.dt.interval.unit", "HOURS".to_owned()),
        ("storage.location.template", format!("{location}/${{dt}}/")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The DDL for `table` over `location` (e.g. `s3://BUCKET/json_data/`).
pub fn create_table(columns: &[Column], table: &str, location: &str) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("  `{}` {}", c.name, c.hive_type))
        .collect();
    let props: Vec<String> = projection(location)
        .iter()
        .map(|(k, v)| format!("  '{k}' = '{v}'"))
        .collect();
    let location = format!("{}/", location.trim_end_matches('/'));
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` (\n{}\n)\nPARTITIONED BY (`{PARTITION}` string)\nROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nSTORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\nOUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\nLOCATION '{location}'\nTBLPROPERTIES (\n{}\n);",
        cols.join(",\n"),
        props.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ddl_projects_the_hourly_folders_under_the_location() {
        let cols = vec![Column {
            name: "title".into(),
            hive_type: "string".into(),
        }];
        let ddl = create_table(&cols, "records", "s3://b/json_data");
        assert!(
            ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `records` (\n  `title` string\n)"),
            "{ddl}"
        );
        assert!(ddl.contains("LOCATION 's3://b/json_data/'"), "{ddl}");
        assert!(
            ddl.contains("'storage.location.template' = 's3://b/json_data/${dt}/'"),
            "{ddl}"
        );
        assert!(
            ddl.contains("'projection.dt.format' = 'yyyy/MM/dd/HH'"),
            "{ddl}"
        );
        assert!(ddl.ends_with(");"), "{ddl}");
    }
}
