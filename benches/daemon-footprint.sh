#!/usr/bin/env bash
# The daemon's footprint over a few cycles: `bookstream run` against the 1000-book test site and
# a moto_server on 127.0.0.1, cron every 15 s, 60 records per cycle at 200 ms.
#
#   benches/daemon-footprint.sh [SECONDS]      (default 48)
#
# Prints peak and final RSS, CPU time, records in the stream and the per-send offsets from the
# ideal grid (from the daemon's JSON send log). The old pipeline has no daemon to compare with.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-48}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]==5.2.1'
cargo build --release --quiet --workspace
BIN=target/release/bookstream
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

target/release/bookstream-testsite --port 0 >"$WORK/site.out" 2>/dev/null & PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/site.out" && break; sleep 0.1; done
SITE=$(sed -n 's/^listening on //p' "$WORK/site.out")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 & PIDS+=($!)
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/moto-api/" && break; sleep 0.1; done
python3 -c "import boto3; boto3.client('kinesis', endpoint_url='http://127.0.0.1:$PORT', region_name='us-east-1').create_stream(StreamName='foot', ShardCount=1)"

cat >"$WORK/bookstream.toml" <<EOF
[site]
base_url = "$SITE"
[kinesis]
stream_name = "foot"
endpoint_url = "http://127.0.0.1:$PORT"
[stream]
interval = "200ms"
max_records = 60
[schedule]
cron = "*/15 * * * * *"
[state]
dir = "$WORK/state"
EOF

"$BIN" --log-format json run --config "$WORK/bookstream.toml" 2>"$WORK/daemon.log" & DPID=$!
PIDS+=("$DPID")
sleep "$SECONDS_TO_RUN"
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
read -r UT ST < <(awk '{print $14, $15}' "/proc/$DPID/stat")
THREADS=$(awk '/Threads/ {print $2}' "/proc/$DPID/status")
kill -TERM "$DPID"; wait "$DPID" || true

python3 - "$WORK/daemon.log" "$HWM" "$RSS" "$UT" "$ST" "$THREADS" "$(getconf CLK_TCK)" "$SECONDS_TO_RUN" <<'PY'
import json, statistics, sys
log, hwm, rss, ut, st, threads, tck, secs = sys.argv[1:]
sends, cycles = [], 0
for line in open(log):
    try:
        v = json.loads(line)
    except ValueError:
        continue
    m = v.get("message", "")
    if m.startswith("record sent"):
        sends.append(v["lateness_us"] / 1000)
    elif m.startswith("cycle finished"):
        cycles += 1
cpu = (int(ut) + int(st)) / int(tck)
print(f"daemon over {secs} s: {cycles} cycles, {len(sends)} records sent")
print(f"peak RSS {int(hwm) / 1024:.1f} MiB, final RSS {int(rss) / 1024:.1f} MiB, {threads} threads, CPU {cpu:.2f} s")
if sends:
    print(f"send offset from the grid: median {statistics.median(sends):.2f} ms, max {max(sends):.2f} ms")
PY
