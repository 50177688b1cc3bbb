#!/usr/bin/env bash
# The daemon's footprint over a few cycles: the PACKAGED binary (`--no-default-features`, as
# packaging/build-rpm.sh builds it: no test site, no demo) running `bookstream run` against the
# 1000-book test site and a moto_server on 127.0.0.1; cron every 15 s, 60 records per cycle at
# 200 ms, catalogue refresh after 25 s (so one refresh scrape, answered with 304s from the
# scraper's conditional-request cache, falls inside the run). Nothing leaves the machine.
#
#   benches/daemon-footprint.sh [SECONDS]      (default 80: at least four whole cycles)
#   BASELINE=/path/to/older/bookstream benches/daemon-footprint.sh
#                                              (that binary too, side by side, in the same run)
#
# The daemon runs twice, with `[metrics] cloudwatch` off and on (on: endpoint_url is a closed
# loopback port, http://127.0.0.1:9, so every publish fails fast, as a dead endpoint would; it
# still builds the second AWS SDK client). /proc/PID/status is sampled every 200 ms, and each
# sample is put in a phase from the daemon's JSON log, read as it is written:
#   cycle   between the events cycle_started and cycle_finished (the `event` field)
#   scrape  a refresh is outstanding: between refresh_started and the cycle start that takes
#           its result (catalogue_refreshed / catalogue_refused)
#   idle    neither, after the first cycle has finished (the start-up scrape is taken by then)
# Printed, for each run:
#   peak RSS          VmHWM at the end of the run (the kernel's high-water mark)
#   peak in scrape    largest VmRSS sampled while a scrape was outstanding
#   peak in cycle     largest VmRSS sampled while a cycle ran
#   idle RSS          median of the idle samples (and their range); RssAnon, RssFile likewise
#   threads           at the idle samples (median) and the most seen
#   CPU               user+system of the daemon over the whole run (start-up scrape included)
#   send offset       each send's lateness against the ideal grid (the daemon's send log)
# and once: the binary's size, and the CPU of a full scrape (`bookstream scrape` of all 1050
# pages, no cache; median of 3) so that a size optimisation can be weighed against speed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-80}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]==5.2.1'
# The test site first, then the packaged daemon; copied so a later build cannot swap it.
cargo build --release --quiet --locked -p bookstream-testsite
cargo build --release --quiet --locked --no-default-features --bin bookstream
BINS=(this)
cp "$TARGET/release/bookstream" "$WORK/bin-this"
if [ -n "${BASELINE:-}" ]; then
    BINS=(baseline this)
    cp "$BASELINE" "$WORK/bin-baseline"
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

"$TARGET/release/bookstream-testsite" --port 0 >"$WORK/site.out" 2>/dev/null & PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/site.out" && break; sleep 0.1; done
SITE=$(sed -n 's/^listening on //p' "$WORK/site.out")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 & PIDS+=($!)
for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/moto-api/" && break; sleep 0.1; done
python3 -c "
import boto3
k = boto3.client('kinesis', endpoint_url='http://127.0.0.1:$PORT', region_name='us-east-1')
for b in ('baseline', 'this'):
    for m in ('off', 'on'): k.create_stream(StreamName=f'foot-{b}-{m}', ShardCount=1)"

# Samples VmRSS, RssAnon, RssFile, Threads every 200 ms for $2 seconds, phased by the log $3.
cat >"$WORK/sample.py" <<'PY'
import json, sys, time
pid, secs, log, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
cycle = refresh = settled = False
samples, pos, end = [], 0, time.monotonic() + secs
while time.monotonic() < end:
    with open(log) as f:
        f.seek(pos)
        for line in f:
            if not line.endswith("\n"):
                break
            pos += len(line.encode())
            try:
                e = json.loads(line).get("event", "")
            except ValueError:
                continue
            if e == "cycle_started":
                cycle = True
            elif e == "cycle_finished":
                cycle, settled = False, True
            elif e == "refresh_started":
                refresh = True
            elif e in ("catalogue_refreshed", "catalogue_refused"):
                refresh = False
    try:
        status = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status"))
    except OSError:
        break
    kib = lambda k: int(status[k].split()[0])
    phase = "cycle" if cycle else "scrape" if refresh else "idle" if settled else "start"
    samples.append(dict(phase=phase, rss=kib("VmRSS"), anon=kib("RssAnon"),
                        file=kib("RssFile"), threads=int(status["Threads"]), hwm=kib("VmHWM")))
    time.sleep(0.2)
json.dump(samples, open(out, "w"))
PY

# One daemon run: $1 = off|on.
run_daemon() {
    local b=$1 m=$2 dir=$WORK/$1-$2
    mkdir -p "$dir"
    cat >"$dir/bookstream.toml" <<EOF
[site]
base_url = "$SITE"
max_requests_per_sec = 1000
refresh = "25s"
[kinesis]
stream_name = "foot-$b-$m"
endpoint_url = "http://127.0.0.1:$PORT"
[stream]
interval = "200ms"
max_records = 60
[schedule]
cron = "*/15 * * * * *"
[state]
dir = "$dir/state"
EOF
    if [ "$m" = on ]; then
        printf '[metrics]\ncloudwatch = true\nendpoint_url = "http://127.0.0.1:9"\n' >>"$dir/bookstream.toml"
    fi
    : >"$dir/daemon.log"
    "$WORK/bin-$b" --log-format json run --config "$dir/bookstream.toml" 2>"$dir/daemon.log" &
    local pid=$!
    PIDS+=("$pid")
    python3 "$WORK/sample.py" "$pid" "$SECONDS_TO_RUN" "$dir/daemon.log" "$dir/samples.json"
    awk '{print $14 + $15}' "/proc/$pid/stat" >"$dir/cpu"
    kill -TERM "$pid"
    wait "$pid" || true
}
for b in "${BINS[@]}"; do
    run_daemon "$b" off
    run_daemon "$b" on
done

# A full scrape's CPU (no cache): median of 3 runs.
for b in "${BINS[@]}"; do
python3 - "$WORK/bin-$b" "$SITE" "$WORK/cat.json" >"$WORK/scrape-cpu-$b" <<'PY'
import resource, statistics, subprocess, sys
bin_, site, out = sys.argv[1:]
cpu = []
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([bin_, "scrape", "--site", site, "--output", out,
                    "--max-requests-per-sec", "1000"], check=True,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
print(f"{statistics.median(cpu):.2f}")
PY
done

python3 - "$WORK" "$SECONDS_TO_RUN" "$(getconf CLK_TCK)" "${BINS[@]}" <<'PY'
import json, os, statistics, sys
work, secs, tck, *bins = sys.argv[1:]
mib = lambda k: f"{k / 1024:.1f}"
cols = {}
for b in bins:
  for m in ("off", "on"):
    d = f"{work}/{b}-{m}"
    s = json.load(open(f"{d}/samples.json"))
    idle = [x for x in s if x["phase"] == "idle"]
    cycles, late = 0, []
    for line in open(f"{d}/daemon.log"):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        cycles += v.get("event") == "cycle_finished"
        # by name; by the wording too, for a baseline from before the typed events
        if v.get("event") == "record_sent" or v.get("message", "").startswith("record sent"):
            late.append(v["lateness_us"] / 1000)
    med = lambda k: statistics.median(x[k] for x in idle) if idle else 0
    rng = lambda k: f"{mib(min(x[k] for x in idle))}-{mib(max(x[k] for x in idle))}" if idle else "-"
    peak = lambda ph: mib(max((x["rss"] for x in s if x["phase"] == ph), default=0))
    cols[f"{b}/{m}"] = {
        "peak RSS (VmHWM), MiB": mib(s[-1]["hwm"]),
        "peak RSS in a scrape, MiB": peak("scrape"),
        "peak RSS in a cycle, MiB": peak("cycle"),
        "idle RSS (median), MiB": mib(med("rss")),
        "idle RSS range, MiB": rng("rss"),
        "idle RssAnon (median), MiB": mib(med("anon")),
        "idle RssFile (median), MiB": mib(med("file")),
        "threads idle / most": f"{med('threads'):.0f} / {max(x['threads'] for x in s)}",
        "CPU over the run, s": f"{int(open(f'{d}/cpu').read()) / int(tck):.2f}",
        "cycles / records / idle samples": f"{cycles} / {len(late)} / {len(idle)}",
        "send offset median / max, ms": f"{statistics.median(late):.1f} / {max(late):.1f}" if late else "-",
        "binary size, bytes": f"{os.path.getsize(f'{work}/bin-{b}'):,}",
        "full scrape CPU (median of 3), s": open(f"{work}/scrape-cpu-{b}").read().strip(),
    }
print(f"packaged daemon (--no-default-features), {secs} s per run, 200 ms samples; metrics off / on")
print(f"{'':34}" + "".join(f"{c:>18}" for c in cols))
for k in next(iter(cols.values())):
    print(f"{k:34}" + "".join(f"{cols[c][k]:>18}" for c in cols))
PY
