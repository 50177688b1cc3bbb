#!/usr/bin/env python3
"""A real query engine over what Firehose would write: DuckDB reads the JSON Lines objects
under ROOT/json_data/YYYY/MM/DD/HH/ with the columns and types of `bookstream schema --format
glue`, and runs the template's named queries, transpiled from Athena SQL to DuckDB's dialect by
sqlglot (mechanically: the text is read from the template, never copied). With --parquet DIR,
pyarrow first writes the same records as Parquet with the Glue schema, checks that reading
them back loses no field and no value, and the queries run over the Parquet files as well.

    python3 tests/lake/query.py --template packaging/cloudformation.yaml \
        --columns glue.json --root DIR [--parquet DIR] [--only QUERY] [--as-is]

Prints one JSON object: {"queries": {QueryId: Athena text}, "jsonl": {QueryId: [row, ...],
"BooksPerCategory": ...}, "parquet": ...}. `BooksPerCategory` counts the rows of the current
catalogue query per category. `--as-is` runs the template's text untranslated (`bookstream
demo` does, with the current catalogue query, which DuckDB reads as Athena writes it, so the
demo needs duckdb only). Fails (never skips) without duckdb, PyYAML, sqlglot (unless --as-is)
or pyarrow (with --parquet).
"""

import argparse
import glob
import json
import os
import re
import sys

try:
    import duckdb
    import yaml
except ImportError as e:
    sys.exit(f"query.py: {e}: python3 -m pip install 'duckdb==2.0.1' pyyaml")

TABLE = "records"
PARTITION = re.compile(r"json_data/([0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2})/")


# ------------------------------------------------------------------ Hive types
def parse_type(text):
    """`struct<a:string,b:array<int>>` -> ("struct", [("a", ("string",)), ("b", ("array", ("int",)))])."""
    pos = 0

    def ident():
        nonlocal pos
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(text, pos)
        if not m:
            raise ValueError(f"bad Hive type {text!r} at {pos}")
        pos = m.end()
        return m.group(0)

    def expect(c):
        nonlocal pos
        if text[pos:pos + 1] != c:
            raise ValueError(f"bad Hive type {text!r}: expected {c!r} at {pos}")
        pos += 1

    def one():
        nonlocal pos
        name = ident()
        if name == "array":
            expect("<")
            inner = one()
            expect(">")
            return ("array", inner)
        if name == "struct":
            expect("<")
            fields = []
            while True:
                key = ident()
                expect(":")
                fields.append((key, one()))
                if text[pos:pos + 1] == ",":
                    pos += 1
                    continue
                expect(">")
                return ("struct", fields)
        if name not in ("string", "double", "int", "bigint", "boolean"):
            raise ValueError(f"Hive type {name!r} has no DuckDB/Arrow mapping here")
        return (name,)

    t = one()
    if pos != len(text):
        raise ValueError(f"bad Hive type {text!r}: trailing {text[pos:]!r}")
    return t


def duck_type(t):
    simple = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT", "boolean": "BOOLEAN"}
    if t[0] == "array":
        return duck_type(t[1]) + "[]"
    if t[0] == "struct":
        return "STRUCT(" + ", ".join(f'"{k}" {duck_type(v)}' for k, v in t[1]) + ")"
    return simple[t[0]]


def arrow_type(t):
    import pyarrow as pa  # write_parquet checked it is there
    simple = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "bigint": pa.int64(), "boolean": pa.bool_()}
    if t[0] == "array":
        return pa.list_(arrow_type(t[1]))
    if t[0] == "struct":
        return pa.struct([pa.field(k, arrow_type(v)) for k, v in t[1]])
    return simple[t[0]]


# ------------------------------------------------------------------ the template's queries
def named_queries(template):
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    t = yaml.load(open(template).read(), Loader)
    out = {}
    for rid, r in t["Resources"].items():
        if r.get("Type") == "AWS::Athena::NamedQuery":
            out[rid] = r["Properties"]["QueryString"]
    if not out:
        sys.exit(f"{template}: no AWS::Athena::NamedQuery")
    return out


AS_IS = False


def to_duckdb(athena_sql):
    if AS_IS:
        return athena_sql
    try:
        import sqlglot
    except ImportError as e:
        sys.exit(f"query.py: {e}: python3 -m pip install 'sqlglot==30.31.0'")
    return sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]


# ------------------------------------------------------------------ data
def objects(root):
    files = sorted(glob.glob(os.path.join(root, "json_data", "*", "*", "*", "*", "*")))
    if not files:
        sys.exit(f"no objects under {root}/json_data/YYYY/MM/DD/HH/")
    return files


def view_over(con, source):
    """The table as Athena sees it: the columns plus the partition `dt` from the object's folder."""
    con.execute(
        f"CREATE OR REPLACE VIEW {TABLE} AS SELECT * EXCLUDE (filename), "
        f"regexp_extract(filename, '{PARTITION.pattern}', 1) AS dt FROM {source}"
    )


def run_queries(con, queries):
    answers = {}
    for qid, sql in queries.items():
        cur = con.execute(to_duckdb(sql))
        names = [d[0] for d in cur.description]
        answers[qid] = [dict(zip(names, row)) for row in cur.fetchall()]
    if "CurrentCatalogueQuery" in queries:
        inner = to_duckdb(queries["CurrentCatalogueQuery"])
        rows = con.execute(f"SELECT category, count(*) FROM ({inner}) GROUP BY category ORDER BY category").fetchall()
        answers["BooksPerCategory"] = {c: n for c, n in rows}
    return answers


def write_parquet(files, columns, out_root, root):
    """Each JSON Lines object as a Parquet file with the Glue schema, read back and compared."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        sys.exit(f"query.py: {e}: python3 -m pip install 'pyarrow==26.0.1'")

    types = {c["Name"]: parse_type(c["Type"]) for c in columns}
    schema = pa.schema([pa.field(c["Name"], arrow_type(types[c["Name"]])) for c in columns])
    written = []
    for path in files:
        records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        for n, r in enumerate(records, 1):
            extra = set(r) - set(types)
            if extra:
                sys.exit(f"{path}:{n}: fields {sorted(extra)} are not in the Glue schema (Firehose's conversion would drop them)")
            prev = types.get("previous")
            if isinstance(r.get("previous"), dict) and prev:
                extra = set(r["previous"]) - {k for k, _ in prev[1]}
                if extra:
                    sys.exit(f"{path}:{n}: previous.{sorted(extra)} not in the Glue schema")
        table = pa.Table.from_pylist(records, schema=schema)
        target = os.path.join(out_root, os.path.relpath(path, root)) + ".parquet"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        pq.write_table(table, target, compression="snappy")
        back = pq.read_table(target)
        if back.schema != schema:
            sys.exit(f"{target}: schema read back {back.schema} != {schema}")
        for n, (want, got) in enumerate(zip(records, back.to_pylist()), 1):
            for name in types:
                w, g = want.get(name), got.get(name)
                if isinstance(w, dict) or isinstance(g, dict):
                    # A struct: the JSON holds the keys it has; the Parquet row all of them.
                    keys = {k for k, _ in types[name][1]}
                    w = {k: (w or {}).get(k) for k in keys}
                    g = {k: (g or {}).get(k) for k in keys}
                if w != g:
                    sys.exit(f"{target}: record {n} field {name}: wrote {w!r}, read back {g!r}")
        if len(back) != len(records):
            sys.exit(f"{target}: {len(back)} rows read back, {len(records)} written")
        written.append(target)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", required=True)
    ap.add_argument("--columns", required=True, help="`bookstream schema --format glue` output")
    ap.add_argument("--root", required=True, help="the folder holding json_data/")
    ap.add_argument("--parquet", help="also write Parquet here and query it")
    ap.add_argument("--only", action="append", help="run only these named queries")
    ap.add_argument("--as-is", action="store_true", help="run the Athena text untranslated")
    args = ap.parse_args()
    global AS_IS
    AS_IS = args.as_is
    columns = json.load(open(args.columns))
    queries = named_queries(args.template)
    if args.only:
        queries = {k: v for k, v in queries.items() if k in args.only}
    files = objects(args.root)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # Athena's current_date is UTC
    spec = "{" + ", ".join(f"'{c['Name']}': '{duck_type(parse_type(c['Type']))}'" for c in columns) + "}"
    listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    view_over(con, f"read_json({listing}, format = 'newline_delimited', columns = {spec}, filename = true)")
    result = {"queries": queries, "jsonl": run_queries(con, queries)}
    if args.parquet:
        written = write_parquet(files, columns, args.parquet, args.root)
        listing = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in written) + "]"
        view_over(con, f"read_parquet({listing}, filename = true)")
        result["parquet"] = run_queries(con, queries)
    json.dump(result, sys.stdout, default=str)
    print()


if __name__ == "__main__":
    main()
