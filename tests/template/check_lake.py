#!/usr/bin/env python3
"""The lake's contract: packaging/cloudformation.yaml's Glue table, Firehose conversion and
Athena queries against `bookstream schema` (the schema derived from the record types).

Run by .ci/run after `cargo test` built the binary:
    python3 tests/template/check_lake.py target/debug/bookstream

A record field added or changed without the template's table changing with it fails here.
What this cannot check: that Firehose converts and Athena answers (no AWS here); tests/lake.rs
runs the same queries over real records with DuckDB instead.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_template as ct  # noqa: E402  (the template loader and its helpers)

need = ct.need
GLUE_READS = {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"}


def schema(binary, *args):
    out = subprocess.run([binary, "schema", *args], capture_output=True, text=True)
    need(out.returncode == 0, f"{binary} schema {' '.join(args)}: exit {out.returncode}: {out.stderr}")
    return out.stdout


def one(t, type_):
    rs = ct.resources(t, type_)
    need(len(rs) == 1, f"want one {type_}, found {sorted(rs)}")
    return next(iter(rs.items()))


def branches(v):
    """Both values of `!If [cond, a, b]` (or the value itself), keyed by the condition's truth."""
    if isinstance(v, dict) and list(v) == ["Fn::If"]:
        cond, a, b = v["Fn::If"]
        return cond, a, b
    return None, v, v


def check_columns(t, binary):
    _, table = one(t, "AWS::Glue::Table")
    got = ct.props(table)["TableInput"]["StorageDescriptor"]["Columns"]
    want = json.loads(schema(binary, "--format", "glue"))
    if got != want:
        names_got = [c.get("Name") for c in got]
        names_want = [c["Name"] for c in want]
        diff = [f"{w} != {g}" for w, g in zip(want, got) if w != g]
        need(False, f"template columns differ from `bookstream schema --format glue`: "
                    f"template {names_got}, schema {names_want}; first differences {diff[:3]}")
    return f"{len(want)} columns, as `bookstream schema --format glue`"


def check_projection(t, binary):
    tid, table = one(t, "AWS::Glue::Table")
    ti = ct.props(table)["TableInput"]
    need(ti.get("PartitionKeys") == [{"Name": "dt", "Type": "string"}], f"{tid}: partition keys {ti.get('PartitionKeys')}")
    params = {}
    for k, v in ti["Parameters"].items():
        if k.startswith("projection.") or k == "storage.location.template":
            params[k] = ct.render_sub(t, ct.sub_text(v), {})
    location = ct.render_sub(t, ct.sub_text(ti["StorageDescriptor"]["Location"]), {})
    ddl = schema(binary, "--format", "athena", "--location", location)
    want = dict(re.findall(r"^\s*'([^']+)' = '([^']*)'", ddl, re.M))
    need(params == want, f"{tid}: projection {params} != `bookstream schema --format athena` {want}")
    need(f"LOCATION '{location}'" in ddl, f"DDL location: {ddl}")
    # The projection's folders are Firehose's: json_data/ + its timestamp layout.
    _, fh = one(t, "AWS::KinesisFirehose::DeliveryStream")
    prefix = ct.props(fh)["ExtendedS3DestinationConfiguration"]["Prefix"]
    m = re.fullmatch(r"(.*)!\{timestamp:([^}]*)\}/", prefix)
    need(m is not None, f"Firehose prefix {prefix!r} is not PREFIX!{{timestamp:FORMAT}}/")
    need(location.endswith("/" + m.group(1)), f"table location {location} is not under Firehose's prefix {m.group(1)}")
    need(m.group(2) == want["projection.dt.format"],
         f"Firehose writes {m.group(2)}, the projection reads {want['projection.dt.format']}")
    return f"dt projected as {m.group(2)} hourly under {location}, as Firehose's prefix {prefix}"


def check_storage_formats(t, _binary):
    fid, fh = one(t, "AWS::KinesisFirehose::DeliveryStream")
    s3 = ct.props(fh)["ExtendedS3DestinationConfiguration"]
    allowed = t["Parameters"]["StorageFormat"]["AllowedValues"]
    need(sorted(allowed) == ["jsonl", "legacy", "parquet"], f"StorageFormat {allowed}")
    need(t["Parameters"]["StorageFormat"]["Default"] == "jsonl", "JSON Lines is the default")
    conds = t["Conditions"]
    need(conds.get("JsonLines") == {"Fn::Equals": [{"Ref": "StorageFormat"}, "jsonl"]}, f"JsonLines {conds.get('JsonLines')}")
    need(conds.get("Parquet") == {"Fn::Equals": [{"Ref": "StorageFormat"}, "parquet"]}, f"Parquet {conds.get('Parquet')}")
    cond, proc, no = branches(s3.get("ProcessingConfiguration"))
    need(cond == "JsonLines" and no == {"Ref": "AWS::NoValue"}, f"{fid}: processing only for jsonl: {cond}")
    need([p["Type"] for p in proc["Processors"]] == ["AppendDelimiterToRecord"], f"{fid}: processors {proc}")
    cond, conv, no = branches(s3.get("DataFormatConversionConfiguration"))
    need(cond == "Parquet" and no == {"Ref": "AWS::NoValue"}, f"{fid}: conversion only for parquet: {cond}")
    need(conv["InputFormatConfiguration"]["Deserializer"] == {"OpenXJsonSerDe": {}}, "OpenX JSON deserializer")
    need("ParquetSerDe" in conv["OutputFormatConfiguration"]["Serializer"], "Parquet serializer")
    sc = conv["SchemaConfiguration"]
    tid, _ = one(t, "AWS::Glue::Table")
    did, _ = one(t, "AWS::Glue::Database")
    need(ct.ref_name(sc["TableName"]) == tid and ct.ref_name(sc["DatabaseName"]) == did,
         f"conversion schema is not the records table: {sc}")
    need(ct.ref_name(sc["RoleARN"]) == "FirehoseRole", f"conversion role {sc['RoleARN']}")
    cond, big, small = branches(s3["BufferingHints"]["SizeInMBs"])
    need(cond == "Parquet" and int(big) >= 64, f"Parquet needs a buffer of 64 MiB or more: {s3['BufferingHints']}")
    need(s3["CompressionFormat"] == "UNCOMPRESSED", "conversion needs CompressionFormat UNCOMPRESSED")
    _, table = one(t, "AWS::Glue::Table")
    serde = ct.props(table)["TableInput"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    cond, pq, js = branches(serde)
    need(cond == "Parquet" and "Parquet" in pq and js == "org.openx.data.jsonserde.JsonSerDe", f"table SerDe {serde}")
    return f"jsonl: AppendDelimiterToRecord; parquet: OpenX JSON -> Parquet with {tid} as schema, {big} MiB buffer; legacy: neither"


def check_glue_permissions(t, _binary):
    role = t["Resources"]["FirehoseRole"]
    did, _ = one(t, "AWS::Glue::Database")
    tid, _ = one(t, "AWS::Glue::Table")
    glue = []
    for p in ct.props(role)["Policies"]:
        p = ct.first_branch(p)
        for st in ct.as_list(p["PolicyDocument"]["Statement"]):
            actions = set(ct.as_list(st["Action"]))
            if any(a.startswith("glue:") for a in actions):
                glue.append((actions, [ct.sub_text(r) for r in ct.as_list(st["Resource"])]))
    need(len(glue) == 1, f"FirehoseRole: want one glue statement, found {glue}")
    actions, res = glue[0]
    need(actions == GLUE_READS, f"FirehoseRole glue actions {sorted(actions)}, want exactly {sorted(GLUE_READS)}")
    arn = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
    want = [arn + "catalog", arn + f"database/${{{did}}}", arn + f"table/${{{did}}}/${{{tid}}}"]
    need(sorted(res) == sorted(want), f"FirehoseRole glue resources {res}, want {want}")
    for rid, r in ct.resources(t, "AWS::IAM::Role").items():
        if rid != "FirehoseRole":
            need("glue:" not in json.dumps(r), f"{rid} has glue permissions")
    return f"FirehoseRole: {sorted(GLUE_READS)} on the catalog, {did}, {tid}; no other role has glue"


def check_athena(t, _binary):
    wid, wg = one(t, "AWS::Athena::WorkGroup")
    out = ct.sub_text(ct.props(wg)["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"])
    m = re.fullmatch(r"s3://\$\{DataBucket\}/([^/]+/)", out)
    need(m is not None, f"{wid}: results {out} are not a prefix of the data bucket")
    need(m.group(1) not in ("json_data/", "errors/"), f"{wid}: results in {m.group(1)}, where Firehose writes")
    queries = ct.resources(t, "AWS::Athena::NamedQuery")
    need(len(queries) == 3, f"want 3 named queries, found {sorted(queries)}")
    try:
        import sqlglot
    except ImportError:
        need(False, "the named queries are parsed with sqlglot: python3 -m pip install sqlglot")
    tid, table = one(t, "AWS::Glue::Table")
    name = ct.props(table)["TableInput"]["Name"]
    for qid, q in queries.items():
        p = ct.props(q)
        need(ct.ref_name(p["WorkGroup"]) == wid and ct.ref_name(p["Database"]) == "LakeDatabase", f"{qid}: {p}")
        tree = sqlglot.parse_one(p["QueryString"], read="athena")
        tables = {x.name for x in tree.find_all(sqlglot.exp.Table)}
        need(tables == {name}, f"{qid} reads {tables}, not the table {name}")
    return f"{wid} results in {m.group(1)}; {len(queries)} named queries parse as Athena SQL and read {name}"


def check_athena_ddl(t, binary):
    """`bookstream schema --format athena` parses as Athena DDL, with the Glue columns and dt."""
    try:
        import sqlglot
    except ImportError:
        need(False, "the DDL is parsed with sqlglot: python3 -m pip install sqlglot")
    ddl = schema(binary, "--format", "athena")
    tree = sqlglot.parse_one(ddl, read="athena")
    need(isinstance(tree, sqlglot.exp.Create), f"not a CREATE: {ddl[:80]}")
    names = [c.name for c in tree.this.expressions]
    part = tree.find(sqlglot.exp.PartitionedByProperty)
    need(part is not None, "DDL without PARTITIONED BY")
    names += [c.name for c in part.find_all(sqlglot.exp.ColumnDef)]
    want = [c["Name"] for c in json.loads(schema(binary, "--format", "glue"))] + ["dt"]
    need(names == want, f"DDL columns {names} != Glue columns + dt {want}")
    need("org.openx.data.jsonserde.JsonSerDe" in ddl, "DDL without the OpenX JSON SerDe")
    return f"CREATE EXTERNAL TABLE parses as Athena DDL: {len(names) - 1} columns + dt, OpenX JSON SerDe"


def check_readme(t, _binary, repo):
    readme = (repo / "README.md").read_text()
    q = ct.props(t["Resources"]["CurrentCatalogueQuery"])["QueryString"]
    need(q.strip() in readme, "README.md does not show the CurrentCatalogueQuery text as the template has it")
    return "README shows CurrentCatalogueQuery as written in the template"


CHECKS = {
    "columns": check_columns,
    "projection": check_projection,
    "storage-formats": check_storage_formats,
    "glue-permissions": check_glue_permissions,
    "athena": check_athena,
    "athena-ddl": check_athena_ddl,
}


def main():
    repo = Path(__file__).resolve().parents[2]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", help="the built bookstream binary (target/debug/bookstream)")
    ap.add_argument("--template", default=str(repo / "packaging/cloudformation.yaml"))
    args = ap.parse_args()
    t = ct.load(args.template)
    checks = dict(CHECKS, readme=lambda t, b: check_readme(t, b, repo))
    failed = 0
    for name, check in checks.items():
        try:
            print(f"PASS {name}: {check(t, args.binary)}")
        except (ct.CheckFailed, KeyError, TypeError, ValueError) as e:
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"{args.template}: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
