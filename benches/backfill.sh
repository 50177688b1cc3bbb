#!/usr/bin/env bash
# Backfill: bookstream's PutRecords mode against a fair boto3 peer and the old put_record
# streamer, in sequence, on one local moto server (127.0.0.1 only; nothing leaves the machine).
#
#   benches/backfill.sh [RECORDS]          (default 100000) side by side, one table
#   benches/backfill.sh --rss-scaling      bookstream alone on 100,000 and on 1,000,000 records:
#                                          peak RSS of each and their ratio (~12 min: 1M records
#                                          at bookstream's own ~2,900 records/s on 4 shards, plus
#                                          generating and reading them back)
#
# Contenders, each on a fresh 4-shard stream (moto is reset before each, so every run starts on
# an empty server; moto serves one request at a time and is patched for speed, see MOTO_PLAIN
# below) and on the same generated input (benches/gen_records.py, ~430-byte records):
#   bookstream  target/release/bookstream stream --interval 0 --json-file ... (PutRecords, several
#               batches in flight, per-shard rate limiting, partition key {upc})
#   boto3       benches/boto3_put_records.py: 500-entry PutRecords, retries only failed entries,
#               one request at a time
#   old         ../shared/baseline/json_to_kinesis_streams.py --interval 0: one PutRecord per
#               record. Slow, so it runs on OLD_RECORDS records (default 10000, the first ones of
#               the same data) and its per-100k figures are scaled, marked with '*'.
# Measured with /usr/bin/time: client CPU (user+sys), wall time, peak RSS. moto (a few thousand
# entries/s here, patched; ~1,200/s plain, see ../shared/EMULATORS.md) is the bottleneck, so wall
# time and records/s say more about moto than the client; client CPU is the figure to compare.
# Wall time is not a race either: bookstream keeps to its per-shard limits (no second over 85% of
# 1000 records/s per shard; on 4 shards a 12.5% burst and 72.5% rate: ~2,900 records/s), the peers to none (real Kinesis would throttle them). moto's
# own CPU during each run is shown too. After each run the stream is read back (every shard,
# TRIM_HORIZON + GetRecords): records read back must equal records sent, no UPC twice, none
# missing; otherwise the table marks FAIL and the script exits 1. A contender that exits
# non-zero stops the script at once, with the tail of its stderr.
#
# Environment: OLD_RECORDS (10000), SHARDS (4), CONTENDERS ("bookstream boto3 old": a subset
# runs only those), INPUT (array | lines: what bookstream and the boto3 peer read; the old
# script reads an array always), RSS_SIZES ("100000 1000000") and SHARDS_RSS (4) for
# --rss-scaling, BASELINE (../shared/baseline), KEEP_WORK=1 (keep the temporary directory and
# print its path), NO_BUILD=1 (use target/release/bookstream as it is, no `cargo build`),
# BOOKSTREAM_BIN=PATH (measure that binary instead, e.g. an older build for a baseline; no build),
# MOTO_PLAIN=1 (plain moto_server: loses records under concurrent PutRecords, see below),
# CALLGRIND=FILE (bookstream runs under `valgrind --tool=callgrind` and leaves its profile in
# FILE: the repeatable figure, its instruction count, is the "Collected" line printed at the end;
# its CPU and wall columns are then valgrind's, and SHA-256 runs in software, valgrind offering
# no SHA-NI. Build with CARGO_PROFILE_RELEASE_STRIP=false for names in the profile).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=compare
if [[ ${1:-} == --rss-scaling ]]; then MODE=rss; shift; fi
RECORDS=${1:-100000}
OLD_RECORDS=${OLD_RECORDS:-10000}
SHARDS=${SHARDS:-4}
CONTENDERS=${CONTENDERS:-bookstream boto3 old}
INPUT=${INPUT:-array}
RSS_SIZES=${RSS_SIZES:-100000 1000000}
BASELINE=${BASELINE:-../shared/baseline}
if [[ $MODE == rss ]]; then CONTENDERS=bookstream; SHARDS=${SHARDS_RSS:-4}; fi
(( OLD_RECORDS > RECORDS )) && OLD_RECORDS=$RECORDS
[[ $INPUT == array || $INPUT == lines ]] || { echo "INPUT must be array or lines" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]==5.2.1'
python3 -c 'import boto3' 2>/dev/null || python3 -m pip install --quiet -r "$BASELINE/requirements.txt"
BIN=${BOOKSTREAM_BIN:-target/release/bookstream}
if [[ -z ${BOOKSTREAM_BIN:-} && " $CONTENDERS " == *" bookstream "* && ${NO_BUILD:-0} != 1 ]]; then
    cargo build --release --quiet --workspace
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS AWS_PROFILE 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# moto is patched here, in two ways, by running its own WSGI app from a small wrapper (same moto,
# same Kinesis code, on the same kind of werkzeug server as `moto_server`):
# 1. One request at a time. moto 5.2.1's Shard.put_record ("not safe for concurrency", says its
#    source) takes the highest sequence number + 1 with no lock, and moto_server serves each
#    request on its own thread: two PutRecords at once can be handed the same sequence number and
#    the later overwrites the earlier, so records are lost although the response said they were
#    stored (8 boto3 threads x 500-entry PutRecords: ~230 of 20,000 lost). bookstream keeps
#    several PutRecords in flight; moto is bound by the GIL anyway.
# 2. O(1) sequence numbers. Shard.get_max_sequence_number is list(records.keys())[-1], a copy of
#    the shard's whole key list for every record put: ~860 puts/s at 100,000 records in the stream
#    and ~330/s at 200,000 (in process, 16 shards), so a 1,000,000-record run would take well over an hour
#    and requests queued behind it pass bookstream's 10 s attempt timeout. The patch returns the
#    same keys (the first and last of the insertion-ordered dict) without the copy: ~10,000 puts/s
#    flat in process.
# MOTO_PLAIN=1 runs plain `moto_server` instead (threaded and unpatched): records go missing with
# bookstream's requests in flight, and large runs slow down as the stream fills.
PATCHED_MOTO='
import sys, threading
from werkzeug.serving import run_simple
from moto.kinesis.models import Shard
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
Shard.get_max_sequence_number = lambda self: next(reversed(self.records)) if self.records else 0
Shard.get_min_sequence_number = lambda self: next(iter(self.records)) if self.records else 0
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serial(environ, start_response):
    with lock:
        return [b"".join(app(environ, start_response))]
run_simple(sys.argv[1], int(sys.argv[2]), serial, threaded=True)
'
MOTO_PORT=$(free_port)
if [[ ${MOTO_PLAIN:-0} == 1 ]]; then
    moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & MOTO_PID=$!
else
    # The interpreter's own path (not the pyenv shim), so that $! is the server itself.
    PY=$(python3 -c 'import sys; print(sys.executable)')
    "$PY" -c "$PATCHED_MOTO" 127.0.0.1 "$MOTO_PORT" >"$WORK/moto.log" 2>&1 & MOTO_PID=$!
fi
PIDS+=("$MOTO_PID")
MOTO=http://127.0.0.1:$MOTO_PORT
for _ in $(seq 300); do curl -sf -o /dev/null "$MOTO/moto-api/" && break; sleep 0.1; done
curl -sf -o /dev/null "$MOTO/moto-api/" || { echo "moto_server did not start:" >&2; cat "$WORK/moto.log" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
moto_cpu_ticks() { awk '{print $14 + $15}' "/proc/$MOTO_PID/stat"; }

# A fresh stream on an empty server: reset moto (also frees the previous run's records), create.
fresh_stream() { # name
    curl -sf -X POST -o /dev/null "$MOTO/moto-api/reset"
    python3 - "$MOTO" "$1" "$SHARDS" <<'PY'
import sys, time, boto3
k = boto3.client("kinesis", endpoint_url=sys.argv[1], region_name="us-east-1")
k.create_stream(StreamName=sys.argv[2], ShardCount=int(sys.argv[3]))
for _ in range(100):
    if k.describe_stream_summary(StreamName=sys.argv[2])["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
        break
    time.sleep(0.1)
PY
}

# Every shard from TRIM_HORIZON: "<read> <distinct upcs> <missing> <undecodable>" against the
# first N records of the input (the ones that should have been sent).
read_back() { # stream, input file, n
    python3 - "$MOTO" "$1" "$2" "$3" <<'PY'
import json, sys, boto3
moto, stream, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
k = boto3.client("kinesis", endpoint_url=moto, region_name="us-east-1")
seen, read, bad = set(), 0, 0
for shard in k.list_shards(StreamName=stream)["Shards"]:
    it = k.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        r = k.get_records(ShardIterator=it, Limit=10000)
        if not r["Records"]:
            break
        for rec in r["Records"]:
            read += 1
            try:
                seen.add(json.loads(rec["Data"])["upc"])
            except (ValueError, KeyError, TypeError):
                bad += 1
        it = r.get("NextShardIterator")
# gen_records.py writes one record per line in both formats ("[", "{...},", ..., "]" for an
# array), so the expected UPCs are read line by line, without the whole array in memory.
expected = set()
with open(path, encoding="utf-8") as f:
    for line in f:
        line = line.strip().rstrip(",")
        if line in ("[", "]", ""):
            continue
        if len(expected) == n:
            break
        expected.add(json.loads(line)["upc"])
print(read, len(seen), len(expected - seen), bad)
PY
}

# run NAME STREAM N INPUT COMMAND...: times the command on a fresh stream, fails loudly on a
# non-zero exit, then reads the stream back and checks it against the first N records of INPUT.
run() {
    local name=$1 stream=$2 n=$3 input=$4; shift 4
    fresh_stream "$stream"
    echo "== $name: $n records -> $stream ($SHARDS shards)" >&2
    local m0 m1 rc=0
    m0=$(moto_cpu_ticks)
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" || rc=$?
    m1=$(moto_cpu_ticks)
    if (( rc != 0 )); then
        echo "!! $name FAILED: exit status $rc from: $*" >&2
        echo "-- last lines of its stderr:" >&2; tail -n 25 "$WORK/$name.stderr" >&2
        echo "-- last lines of its stdout:" >&2; tail -n 5 "$WORK/$name.stdout" >&2
        exit 1
    fi
    # n, wall, user, sys, max RSS KiB, moto CPU ticks, read, distinct upcs, missing, undecodable
    echo "$n $(cat "$WORK/$name.time") $(( m1 - m0 )) $(read_back "$stream" "$input" "$n")" >"$WORK/$name.result"
}

gen() { # n, file (.jsonl: JSON Lines)
    local lines=(); [[ $2 == *.jsonl ]] && lines=(--lines)
    python3 benches/gen_records.py "$1" "$2" "${lines[@]}" 2>&1 | sed 's/^/   /' >&2
}
input_for() { # n -> the file bookstream and the boto3 peer read
    if [[ $INPUT == lines ]]; then echo "$WORK/records-$1.jsonl"; else echo "$WORK/records-$1.json"; fi
}
run_bookstream() { # stream, n, input
    local under=()
    if [[ -n ${CALLGRIND:-} ]]; then
        command -v valgrind >/dev/null || { echo "CALLGRIND needs valgrind" >&2; exit 2; }
        under=(valgrind --tool=callgrind "--callgrind-out-file=$CALLGRIND")
    fi
    run "bookstream-$2" "$1" "$2" "$3" \
        "${under[@]}" "$BIN" --log-format json stream --stream-name "$1" --interval 0 --json-file "$3" \
        --max-records "$2" --endpoint-url "$MOTO" --region us-east-1
    if [[ -n ${CALLGRIND:-} ]]; then
        echo "callgrind: $(grep -h 'Collected' "$WORK/bookstream-$2.stderr") -> $CALLGRIND" >&2
    fi
}

if [[ $MODE == rss ]]; then
    for n in $RSS_SIZES; do
        echo "== input: $n records ($INPUT)" >&2
        gen "$n" "$(input_for "$n")"
        run_bookstream "rss-$n" "$n" "$(input_for "$n")"
        rm -f "$(input_for "$n")"
    done
    python3 - "$WORK" $RSS_SIZES <<'PY'
import sys
work, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
rows, ok = [], True
for n in sizes:
    _, e, u, s, m, _, read, distinct, missing, bad = open(f"{work}/bookstream-{n}.result").read().split()
    good = int(read) == n and int(distinct) == n and int(missing) == 0 and int(bad) == 0
    ok &= good
    rows.append((n, float(e), float(u) + float(s), int(m) / 1024, int(read), "ok" if good else "FAIL"))
print()
print(f"{'bookstream backfill':<24}" + "".join(f"{r[0]:>14,}" for r in rows))
print(f"{'peak RSS (MiB)':<24}" + "".join(f"{r[3]:>14.1f}" for r in rows))
print(f"{'client CPU (s)':<24}" + "".join(f"{r[2]:>14.2f}" for r in rows))
print(f"{'wall (s)':<24}" + "".join(f"{r[1]:>14.1f}" for r in rows))
print(f"{'records read back':<24}" + "".join(f"{r[4]:>14,}" for r in rows))
print(f"{'read back = sent':<24}" + "".join(f"{r[5]:>14}" for r in rows))
if len(rows) >= 2:
    print(f"\npeak RSS {rows[-1][0]:,} / {rows[0][0]:,} records: {rows[-1][3] / rows[0][3]:.2f}x "
          f"(for {rows[-1][0] / rows[0][0]:g}x the records)")
sys.exit(0 if ok else 1)
PY
    exit $?
fi

echo "== input: $RECORDS records ($INPUT); old script: $OLD_RECORDS records" >&2
gen "$RECORDS" "$WORK/records-$RECORDS.json"
[[ $INPUT == lines ]] && gen "$RECORDS" "$WORK/records-$RECORDS.jsonl"
IN=$(input_for "$RECORDS")
# The old script loads its whole file and (a bug kept in the baseline) stops after one record
# when --max_records exceeds the file's length, so it gets a file of exactly OLD_RECORDS records:
# the first OLD_RECORDS of the same data (the generator is seeded, so it is a prefix).
OLD_IN=$WORK/records-$RECORDS.json
if (( OLD_RECORDS != RECORDS )); then OLD_IN=$WORK/records-$OLD_RECORDS.json; gen "$OLD_RECORDS" "$OLD_IN"; fi

NAMES=()
for c in $CONTENDERS; do
    case $c in
    bookstream) run_bookstream bf-bookstream "$RECORDS" "$IN"; NAMES+=("bookstream-$RECORDS") ;;
    boto3)
        run boto3 bf-boto3 "$RECORDS" "$IN" \
            python3 benches/boto3_put_records.py --stream-name bf-boto3 --json-file "$IN" \
            --endpoint-url "$MOTO" --region us-east-1
        NAMES+=(boto3) ;;
    old)
        run old bf-old "$OLD_RECORDS" "$OLD_IN" \
            python3 "$BASELINE/json_to_kinesis_streams.py" --stream_name bf-old --interval 0 \
            --max_records "$OLD_RECORDS" --json-file "$OLD_IN" --endpoint-url "$MOTO" --region us-east-1
        NAMES+=(old) ;;
    *) echo "unknown contender: $c (bookstream, boto3, old)" >&2; exit 2 ;;
    esac
done

python3 - "$WORK" "$TCK" "$RECORDS" "${NAMES[@]}" <<'PY'
import sys
work, tck, records, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
LABEL = {"boto3": "boto3 PutRecords", "old": "old put_record"}
cols, ok = {}, True
for name in names:
    n, e, u, s, m, mt, read, distinct, missing, bad = open(f"{work}/{name}.result").read().split()
    n, e, cpu, rss = int(n), float(e), float(u) + float(s), int(m) / 1024
    sent = n
    if name == "boto3":  # the peer prints "sent N": what the stream accepted, by its count
        for line in open(f"{work}/{name}.stdout"):
            if line.startswith("sent "):
                sent = int(line.split()[1])
    good = int(read) == n == sent and int(distinct) == int(read) and int(missing) == 0 and int(bad) == 0
    ok &= good
    k = 100_000 / n
    mark = "*" if n != records else ""  # scaled from fewer records than the others ran
    cols[LABEL.get(name, "bookstream")] = [
        f"{n:,}", f"{e:.2f}", f"{cpu:.2f}", f"{cpu * k:.2f}{mark}", f"{e * k:.1f}{mark}",
        f"{n / e:,.0f}" if e else "-", f"{rss:.1f}", f"{int(mt) / tck:.2f}", f"{int(read):,}",
        f"{int(read) - int(distinct)}", f"{missing}", "ok" if good else "FAIL",
    ]
    cols[LABEL.get(name, "bookstream")].append(cpu / n)
rows = ["records sent", "wall time (s)", "client CPU user+sys (s)", "client CPU per 100k (s)",
        "wall per 100k (s)", "records/s", "peak RSS (MiB)", "moto CPU meanwhile (s)",
        "records read back", "duplicate UPCs", "missing UPCs", "read back = sent"]
w = max(18, *(len(c) + 2 for c in cols))
print()
print(f"{'backfill':<26}" + "".join(f"{c:>{w}}" for c in cols))
for i, label in enumerate(rows):
    print(f"{label:<26}" + "".join(f"{v[i]:>{w}}" for v in cols.values()))
print(f"\ninput: {records:,} generated records (benches/gen_records.py); moto on 127.0.0.1 "
      "(patched: one request at a time, O(1) sequence numbers; MOTO_PLAIN=1 for plain moto_server); wall time and records/s are moto's pace more "
      "than the client's.")
if any(int(v[0].replace(",", "")) != records for v in cols.values()):
    print(f"* scaled: measured on fewer records (see 'records sent') x 100,000 / that count; "
          "peak RSS is as measured on those records, not scaled.")
per = {c: v[-1] for c, v in cols.items()}
if "bookstream" in per:
    for other in ("boto3 PutRecords", "old put_record"):
        if other in per:
            scaled = " (per record; old script's figure scaled)" if other == "old put_record" else ""
            print(f"client CPU {other} / bookstream: {per[other] / per['bookstream']:.1f}x{scaled}")
if not ok:
    print("FAIL: a stream's read-back does not match what was sent (see the last rows)")
sys.exit(0 if ok else 1)
PY
