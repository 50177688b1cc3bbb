#!/usr/bin/env bash
# bookstream vs the old Python pipeline (../shared/baseline), side by side, in one run.
#
#   benches/compare.sh [RECORDS] [INTERVAL_SECONDS]      (default 60 records at 1 s)
#
# Both run against the same local servers: the project's generated 1000-book test site
# (`bookstream-testsite`, crates/testsite) and a moto_server (local Kinesis), on 127.0.0.1. Nothing leaves the
# machine. Prints a table; paste it into BENCHMARKS.md with the command line.
#
# Scrape: wall time, CPU time and peak RSS of a full 50-page catalogue walk.
# Stream: RECORDS puts at INTERVAL; each send's offset from the ideal grid t0 + k*interval
#         (bookstream: its own send log; baseline: its log timestamps, millisecond resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${1:-60}
INTERVAL=${2:-1}
BASELINE=${BASELINE:-../shared/baseline}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]==5.2.1'
python3 -c 'import bs4, requests, boto3' 2>/dev/null || python3 -m pip install --quiet -r "$BASELINE/requirements.txt"
cargo build --release --quiet --workspace
BIN=target/release/bookstream
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Servers.
target/release/bookstream-testsite --port 0 >"$WORK/site.out" 2>/dev/null & PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/site.out" && break; sleep 0.1; done
SITE=$(sed -n 's/^listening on //p' "$WORK/site.out"); SITE=${SITE%/}
MOTO_PORT=$(free_port)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & PIDS+=($!)
MOTO=http://127.0.0.1:$MOTO_PORT
for _ in $(seq 300); do curl -sf -o /dev/null "$MOTO/moto-api/" && break; sleep 0.1; done
python3 - "$MOTO" <<'PY'
import sys, boto3
k = boto3.client("kinesis", endpoint_url=sys.argv[1], region_name="us-east-1")
for s in ("bench-new", "bench-old"):
    k.create_stream(StreamName=s, ShardCount=1)
PY

measure() { # name, output-prefix, command...
    local name=$1 out=$2; shift 2
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$out.time" "$@" >"$WORK/$out.stdout" 2>"$WORK/$out.stderr"
}

echo "== scrape: full catalogue (50 listing pages, 1000 product pages) from $SITE"
measure new scrape-new "$BIN" scrape --site "$SITE/" --output "$WORK/books-new.json"
measure old scrape-old python3 "$BASELINE/scrape_books.py" --base-url "$SITE" --pages 50 --no-random --out "$WORK/books-old.json"

echo "== stream: $RECORDS records at ${INTERVAL}s into moto (both at once, separate streams)"
measure new stream-new "$BIN" --log-format json stream --stream-name bench-new --interval "$INTERVAL" \
    --max-records "$RECORDS" --json-file "$WORK/books-new.json" --endpoint-url "$MOTO" &
NEWP=$!
measure old stream-old python3 "$BASELINE/json_to_kinesis_streams.py" --stream_name bench-old --interval "$INTERVAL" \
    --max_records "$RECORDS" --json-file "$WORK/books-old.json" --endpoint-url "$MOTO" --region us-east-1 &
OLDP=$!
wait "$NEWP" "$OLDP"

python3 - "$WORK" "$RECORDS" "$INTERVAL" "$MOTO" <<'PY'
import datetime, json, statistics, sys
import boto3
work, records, interval, moto = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

def timing(name):
    e, u, s, m = open(f"{work}/{name}.time").read().split()
    return float(e), float(u) + float(s), int(m) / 1024

def books(name):
    return json.load(open(f"{work}/books-{name}.json"))

def real_upcs(bs):
    return sum(1 for b in bs if isinstance(b.get("upc"), str) and len(b["upc"]) == 16)

def offsets_new():
    out = []
    for line in open(f"{work}/stream-new.stderr"):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("message") == "record sent":
            out.append(v["lateness_us"] / 1000)
    return out

def offsets_old():
    ts = []
    for line in open(f"{work}/stream-old.stderr"):
        if "Record sent" in line:
            ts.append(datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"))
    if not ts:
        return []
    t0 = ts[0]
    return [((t - t0).total_seconds() - k * interval) * 1000 for k, t in enumerate(ts)]

def in_stream(name):
    k = boto3.client("kinesis", endpoint_url=moto, region_name="us-east-1")
    shard = k.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    n = 0
    while it:
        r = k.get_records(ShardIterator=it)
        if not r["Records"]:
            break
        n += len(r["Records"])
        it = r["NextShardIterator"]
    return n

rows = []
for name in ("new", "old"):
    e, cpu, rss = timing(f"scrape-{name}")
    bs = books(name)
    rows.append((name, e, cpu, rss, len(bs), real_upcs(bs)))
print()
print(f"{'scrape':<28}{'bookstream':>14}{'baseline':>14}")
labels = ["wall time (s)", "CPU time (s)", "peak RSS (MiB)", "books", "books with a real UPC"]
for i, label in enumerate(labels, start=1):
    a, b = rows[0][i], rows[1][i]
    fmt = (lambda x: f"{x:.2f}") if isinstance(a, float) else str
    print(f"{label:<28}{fmt(a):>14}{fmt(b):>14}")

n_off, o_off = offsets_new(), offsets_old()
def stats(xs):
    if not xs:
        return ("-", "-", "-")
    return (f"{statistics.median(xs):.1f}", f"{max(abs(x) for x in xs):.1f}", f"{xs[-1]:.1f}")
ne, ncpu, nrss = timing("stream-new")
oe, ocpu, orss = timing("stream-old")
print()
print(f"{'stream':<28}{'bookstream':>14}{'baseline':>14}")
print(f"{'records in stream':<28}{in_stream('bench-new'):>14}{in_stream('bench-old'):>14}")
print(f"{'wall time (s)':<28}{ne:>14.2f}{oe:>14.2f}")
print(f"{'CPU time (s)':<28}{ncpu:>14.2f}{ocpu:>14.2f}")
print(f"{'peak RSS (MiB)':<28}{nrss:>14.1f}{orss:>14.1f}")
for label, a, b in zip(["median offset (ms)", "max |offset| (ms)", "last send offset (ms)"], stats(n_off), stats(o_off)):
    print(f"{label:<28}{a:>14}{b:>14}")
print(f"\n(offset = send time - (t0 + k*{interval:g}s); {records} records requested)")
PY
