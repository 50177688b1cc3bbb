#!/usr/bin/env bash
# Installs the bookstream RPM in a real systemd (252, as on Amazon Linux 2023)
# booted in a systemd-nspawn container, runs it against moto (Kinesis) and the
# binary's own test site on the host, and checks the unit's life cycle.
#
#   .ci/systemd-test.sh RPM TESTSITE_BINARY
#
# RPM: the package to test (packaging/build-rpm.sh). TESTSITE_BINARY: the test
# site (target/debug/bookstream-testsite), run on this host as `--port P`.
# Needs root. Recipe: shared/SYSTEMD_TESTING.md. Prints one PASS:/FAIL: line
# per check and "N passed, N failed" last; exits non-zero on any failure.
#
# Environment (all optional):
#   BOOKSTREAM_CI_CACHE  folder of the cached Debian root (default
#                        /var/cache/bookstream-ci; the root is rebuilt if
#                        missing, ~1 min, and booted read-only: the
#                        container's writes go to a tmpfs overlay)
#   BOOKSTREAM_CI_MIRROR Debian mirror for debootstrap
#   BOOKSTREAM_CI_JOURNAL_FIELDS  journal fields of which one must appear in the
#                        daemon's entries (default "CYCLE STREAM")
#   BOOKSTREAM_CI_KEEP=1 keep the work folder (logs) after the run
set -euo pipefail

usage() { echo "usage: $0 RPM TESTSITE_BINARY" >&2; exit 2; }
[ $# -eq 2 ] || usage
[ -f "$1" ] || { echo "$0: no such RPM: $1" >&2; exit 2; }
[ -x "$2" ] || { echo "$0: not an executable: $2" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: must run as root (systemd-nspawn, cgroups)" >&2; exit 2; }
RPM=$(realpath "$1")
HOST_BIN=$(realpath "$2")

CACHE=${BOOKSTREAM_CI_CACHE:-/var/cache/bookstream-ci}
ROOT=$CACHE/root
ROOT_MARK=.bookstream-ci-root-v3
MIRROR=${BOOKSTREAM_CI_MIRROR:-}
JOURNAL_FIELDS=${BOOKSTREAM_CI_JOURNAL_FIELDS:-CYCLE STREAM}
UNIT=bookstream.service
STREAM=bookstream-ci
WATCHDOG_SEC=4

NAME=bookstream-ci-$$
WORK=$(mktemp -d /tmp/bookstream-systemd-test.XXXXXX)
PKGDIR=$WORK/pkgs
NSPID='' CPID='' MOTO_PID='' SITE_PID=''
CG_DIRS=()
PASSED=0 FAILED=0

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }
# check DESCRIPTION COMMAND...: PASS if the command succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
SUMMARY_DONE=''
summary() { SUMMARY_DONE=1; printf '%d passed, %d failed\n' "$PASSED" "$FAILED"; }
fatal() {
    fail "$*"
    summary
    exit 1
}

# --- cleanup -----------------------------------------------------------------
# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS. Polls rather than
# "wait"s: a "wait" inside the EXIT trap can block on the other children.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "warning: pid $1 did not stop in $2 s, killing it" >&2
    kill -KILL "$1" 2>/dev/null
    return 0
}
cleanup() {
    local rc=$? d i
    set +e
    trap - EXIT INT TERM
    if [ -z "$SUMMARY_DONE" ]; then
        fail "the test script itself stopped early (exit status $rc, line ${BASH_LINENO[0]:-?})"
        printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
        # SIGTERM: the container shuts down (its tmpfs overlay goes with it).
        stop_pid "$NSPID" 30
        log "container stopped"
    fi
    for d in "${CG_DIRS[@]}"; do
        [ -d "$d" ] || continue
        # Anything left in the container's cgroups, then the dirs, deepest first.
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r i; do kill -KILL "$i"; done 2>/dev/null
        for i in $(seq 50); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; [ -d "$d" ] || break; sleep 0.1; done
        [ -d "$d" ] && echo "warning: could not remove $d" >&2
    done
    for i in "$MOTO_PID" "$SITE_PID"; do
        [ -n "$i" ] && stop_pid "$i" 5
    done
    if [ "${BOOKSTREAM_CI_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        echo "logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- host tools ----------------------------------------------------------------
missing=()
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
fi
PY=$(python3 -c 'import sys; print(sys.executable)')
if ! "$PY" -c 'import moto.server, boto3' 2>/dev/null; then
    log "pip install moto[server]==5.2.1"
    "$PY" -m pip install -q 'moto[server]==5.2.1'
fi

# --- cached root -------------------------------------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -f "$ROOT/$ROOT_MARK" ]; then
    log "building the Debian root in $ROOT (debootstrap, ~1 min)"
    rm -rf "$ROOT.tmp" "$ROOT"
    # procps: /bin/kill (ExecReload=) and pgrep. ca-certificates: the
    # daemon's HTTP client needs a system CA store (AL2023 has one) even when
    # it only talks plain HTTP to the local test servers.
    # shellcheck disable=SC2086 # MIRROR is empty or one word
    if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,rpm,procps,ca-certificates \
            bookworm "$ROOT.tmp" $MIRROR >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log"
        fatal "debootstrap of the test root"
    fi
    echo ci >"$ROOT.tmp/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT.tmp/etc/hosts"
    mkdir -p "$ROOT.tmp/etc/rpm"
    echo '%_dbpath /var/lib/rpm' >"$ROOT.tmp/etc/rpm/macros"  # Debian's rpm: ~/.rpmdb
    touch "$ROOT.tmp/$ROOT_MARK"
    mv "$ROOT.tmp" "$ROOT"
fi
flock -u 9

# --- moto and the test site on the host -----------------------------------------
# free_port: a free TCP port on 127.0.0.1 below the ephemeral range (so that
# no client socket of this run takes it meanwhile).
free_port() {
    "$PY" - <<'PY'
import random, socket
lo, _ = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
hi = min(lo, 32768) - 1
for _ in range(200):
    p = random.randint(max(1024, hi - 12000), hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# http_up URL PID: wait (30 s) until URL answers any HTTP status.
http_up() {
    local i
    for i in $(seq 300); do
        kill -0 "$2" 2>/dev/null || return 1
        if "$PY" - "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
        sleep 0.1
    done
    return 1
}

# Each server on a fresh port, up to 3 tries (a port can be taken meanwhile).
for _ in 1 2 3; do
    SITE_PORT=$(free_port); SITE_URL=http://127.0.0.1:$SITE_PORT
    "$HOST_BIN" --port "$SITE_PORT" >"$WORK/test-site.log" 2>&1 &
    SITE_PID=$!
    if http_up "$SITE_URL" "$SITE_PID"; then break; fi
    stop_pid "$SITE_PID" 5; SITE_PID=''
done
[ -n "$SITE_PID" ] || { tail -n 20 "$WORK/test-site.log"; fatal "test site ($HOST_BIN --port P) up"; }
for _ in 1 2 3; do
    MOTO_PORT=$(free_port); MOTO_URL=http://127.0.0.1:$MOTO_PORT
    "$PY" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    if http_up "$MOTO_URL" "$MOTO_PID"; then break; fi
    stop_pid "$MOTO_PID" 5; MOTO_PID=''
done
[ -n "$MOTO_PID" ] || { tail -n 20 "$WORK/moto.log"; fatal "moto_server (python -m moto.server -H 127.0.0.1 -p P) up"; }
log "moto on $MOTO_URL, test site on $SITE_URL"

cat >"$WORK/kinesis.py" <<'PY'
import sys, time, boto3
endpoint, stream, cmd = sys.argv[1:4]
k = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
if cmd == "create":
    k.create_stream(StreamName=stream, ShardCount=1)
    k.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
elif cmd == "count":
    n = 0
    for shard in k.list_shards(StreamName=stream)["Shards"]:
        it = k.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(100):
            r = k.get_records(ShardIterator=it, Limit=10000)
            n += len(r["Records"])
            it = r.get("NextShardIterator")
            if not it or not r["Records"]:
                break
    print(n)
PY
"$PY" "$WORK/kinesis.py" "$MOTO_URL" "$STREAM" create || fatal "create Kinesis stream $STREAM in moto"

# --- boot the container ------------------------------------------------------------
mkdir -p "$PKGDIR"
cp "$RPM" "$PKGDIR/"
RPM_IN=/pkgs/$(basename "$RPM")
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG_DIRS=("/sys/fs/cgroup/nspawn-$NAME")
else
    for h in systemd unified; do
        [ -d "/sys/fs/cgroup/$h" ] && CG_DIRS+=("/sys/fs/cgroup/$h/nspawn-$NAME")
    done
fi
mkdir -p "${CG_DIRS[@]}"
mkdir -p /run/systemd/nspawn
mountpoint -q /run/systemd/nspawn || mount -t tmpfs tmpfs /run/systemd/nspawn
# --volatile=overlay rather than the recipe's --ephemeral: the cached root is
# the read-only lower layer of an overlayfs whose upper layer is a tmpfs, so
# nothing is copied at boot nor deleted at shutdown (--ephemeral spends 10-30 s
# here removing its 390 MB copy, and leaves it behind if nspawn is killed).
log "booting $ROOT (volatile overlay) as $NAME"
(
    for d in "${CG_DIRS[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
    export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
    exec setsid systemd-nspawn -q -D "$ROOT" -M "$NAME" --boot --register=no --keep-unit \
        --console=passive --volatile=overlay --bind-ro="$PKGDIR":/pkgs >"$WORK/nspawn.log" 2>&1
) &
NSPID=$!
for _ in $(seq 300); do
    CPID=$(pgrep -P "$NSPID" | head -n 1 || true)
    [ -n "$CPID" ] && [ "$(cat "/proc/$CPID/comm" 2>/dev/null)" = systemd ] && break
    CPID=''
    kill -0 "$NSPID" 2>/dev/null || break
    sleep 0.1
done
[ -n "$CPID" ] || { cat "$WORK/nspawn.log"; fatal "container started (systemd as its PID 1)"; }
E() { nsenter -t "$CPID" -a "$@"; }
for _ in $(seq 300); do E test -S /run/systemd/private 2>/dev/null && break; sleep 0.1; done
STATE=$(timeout 60 nsenter -t "$CPID" -a systemctl is-system-running --wait 2>/dev/null || true)
case $STATE in
    running) pass "container boots (system state: $STATE)" ;;
    degraded) pass "container boots (system state: degraded; failed units: $(E systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' '))" ;;
    *) cat "$WORK/nspawn.log"; fatal "container boots (system state: '${STATE}')" ;;
esac

# --- helpers inside ------------------------------------------------------------------
prop() { E systemctl show -p "$1" --value "$UNIT" 2>/dev/null || true; }
# wait_for SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
    local t=$1 i; shift
    for i in $(seq $((t * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}
is_active() { [ "$(prop ActiveState)" = active ]; }
journal_json() { E journalctl -u "$UNIT" -o json --no-pager 2>/dev/null || true; }
# journal_has PYTHON-EXPR: some entry e (a dict) of the unit's journal makes EXPR true.
journal_has() {
    journal_json | "$PY" -c '
import json, sys
expr = sys.argv[1]
fields = sys.argv[2].split()
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if eval(expr, {"e": e, "fields": fields}):
        sys.exit(0)
sys.exit(1)' "$1" "$JOURNAL_FIELDS"
}
diagnose() {
    echo "----- systemctl status $UNIT -----"
    E systemctl status --no-pager -l "$UNIT" 2>&1 | tail -n 25 || true
    echo "----- journalctl -u $UNIT (last 40) -----"
    E journalctl -u "$UNIT" --no-pager -o short-monotonic 2>&1 | tail -n 40 || true
}

# --- install -----------------------------------------------------------------------
if out=$(E rpm -i --nodeps "$RPM_IN" 2>&1); then
    pass "rpm -i --nodeps $(basename "$RPM")"
else
    echo "$out"; fatal "rpm -i --nodeps $(basename "$RPM")"
fi
[ -z "$out" ] || echo "$out"
if printf '%s' "$out" | grep -qiE 'does not exist|using root'; then
    fail "rpm -i printed no ownership warning"
else
    pass "rpm -i printed no ownership warning"
fi

pw=$(E getent passwd bookstream || true)
IFS=: read -r _ _ BS_UID _ _ BS_HOME BS_SHELL <<<"${pw:-::::::}"
check "user bookstream created by %pre (getent: ${pw:-none})" test -n "$pw"
D="bookstream is a system user (uid ${BS_UID:-?} < 1000)"
if [ -n "$BS_UID" ] && [ "$BS_UID" -lt 1000 ]; then pass "$D"; else fail "$D"; fi
D="bookstream home /var/lib/bookstream ($BS_HOME), no login shell ($BS_SHELL)"
if [ "$BS_HOME" = /var/lib/bookstream ] && [[ "$BS_SHELL" == */nologin ]]; then pass "$D"; else fail "$D"; fi
check "group bookstream exists" eval "E getent group bookstream >/dev/null"
stat_is() { local got; got=$(E stat -c '%a %U %G' "$1" 2>/dev/null || echo missing); [ "$got" = "$2" ] || { echo "  $1: '$got', want '$2'"; return 1; }; }
check "/usr/bin/bookstream 755 root root" stat_is /usr/bin/bookstream "755 root root"
check "/etc/bookstream 755 root root" stat_is /etc/bookstream "755 root root"
check "/etc/bookstream/bookstream.toml 640 root bookstream" stat_is /etc/bookstream/bookstream.toml "640 root bookstream"
check "/var/lib/bookstream 750 bookstream bookstream (tmpfiles in %post)" stat_is /var/lib/bookstream "750 bookstream bookstream"
D="unit loaded (LoadState=$(prop LoadState))"
if [ "$(prop LoadState)" = loaded ]; then pass "$D"; else fail "$D"; fi
verify_out=$(E systemd-analyze verify "$UNIT" 2>&1 || echo "exit status $?")
[ -z "$verify_out" ] || echo "$verify_out"
check "systemd-analyze verify $UNIT (inside) prints nothing" test -z "$verify_out"
log "after install: UnitFileState=$(prop UnitFileState) (per presets), ActiveState=$(prop ActiveState)"

# --- CI drop-in ---------------------------------------------------------------------
E sh -c 'mkdir -p /etc/systemd/system/bookstream.service.d && cat >/etc/systemd/system/bookstream.service.d/ci.conf' <<EOF
[Service]
Environment=AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
Environment=BOOKSTREAM__KINESIS__ENDPOINT_URL=$MOTO_URL
# The shipped config publishes CloudWatch metrics; here to a closed local port (never AWS):
# the daemon must run on regardless.
Environment=BOOKSTREAM__METRICS__ENDPOINT_URL=http://127.0.0.1:9
Environment=BOOKSTREAM__SITE__BASE_URL=$SITE_URL
# The shipped budget (2 requests a second) is for the real site: a full first walk of the local
# test site's 1,050 pages would take 9 minutes.
Environment=BOOKSTREAM__SITE__MAX_REQUESTS_PER_SEC=1000
Environment=BOOKSTREAM__KINESIS__STREAM_NAME=$STREAM
Environment="BOOKSTREAM__SCHEDULE__CRON=*/10 * * * * *"
Environment=BOOKSTREAM__STREAM__MAX_RECORDS=5
Environment=BOOKSTREAM__STREAM__INTERVAL=500ms
WatchdogSec=${WATCHDOG_SEC}s
RestartSec=1s
EOF
E systemctl daemon-reload

# --- start -------------------------------------------------------------------------
if timeout 120 nsenter -t "$CPID" -a systemctl start "$UNIT" && is_active; then
    pass "systemctl start $UNIT returns 0 (READY=1 received), is-active = active"
else
    # Nothing after this can pass: stop here rather than wait for each timeout.
    diagnose; fatal "systemctl start $UNIT returns 0 (READY=1 received), is-active = active"
fi
STATUS_TEXT=$(prop StatusText)
check "StatusText non-empty ('$STATUS_TEXT')" test -n "$STATUS_TEXT"
PID1=$(prop MainPID)
# 134217728 = 128M
check "resource bounds: MemoryMax=$(prop MemoryMax) TasksMax=$(prop TasksMax)" \
    test "$(prop MemoryMax)" = 134217728 -a "$(prop TasksMax)" = 64
# A second process on the running daemon's state directory exits at once with 75, naming the
# directory and the daemon's PID (before it reads any config value that needs the network).
LOCK_OUT=$(E timeout 20 /usr/bin/bookstream once --config /etc/bookstream/bookstream.toml 2>&1; echo "exit=$?")
D="a second 'bookstream once' on /var/lib/bookstream is refused: $(echo "$LOCK_OUT" | tr '\n' ' ')"
if echo "$LOCK_OUT" | grep -q "exit=75" && echo "$LOCK_OUT" | grep -q "/var/lib/bookstream" \
    && echo "$LOCK_OUT" | grep -q "PID $PID1"; then pass "$D"; else fail "$D"; fi
run_uid=$(E sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$PID1/status" 2>/dev/null || true)
D="main process (pid $PID1) runs as bookstream (uid ${run_uid:-?})"
if [ -n "$run_uid" ] && [ "$run_uid" = "$BS_UID" ]; then pass "$D"; else fail "$D"; fi

# --- a first cycle: records in Kinesis (moto) ------------------------------------------
# Waited for here, while the daemon runs undisturbed: the steps below restart it
# often, and a cycle starts only every 10 s (BOOKSTREAM__SCHEDULE__CRON).
kinesis_count() { "$PY" "$WORK/kinesis.py" "$MOTO_URL" "$STREAM" count 2>>"$WORK/kinesis-count.err" || echo 0; }
has_records() { NREC=$(kinesis_count); [ "${NREC:-0}" -gt 0 ]; }
NREC=0
if wait_for 60 has_records; then
    pass "records in the moto stream $STREAM within 60 s (TRIM_HORIZON + GetRecords: $NREC)"
else
    fail "records in the moto stream $STREAM within 60 s (TRIM_HORIZON + GetRecords: ${NREC:-0})"
    tail -n 5 "$WORK/kinesis-count.err" 2>/dev/null; diagnose
fi

# --- journal -----------------------------------------------------------------------
# shellcheck disable=SC2016 # Python, not shell
J_FIELDS='e.get("SYSLOG_IDENTIFIER") == "bookstream" and any(f in e for f in fields)'
if wait_for 40 journal_has "$J_FIELDS"; then
    pass "journal: SYSLOG_IDENTIFIER=bookstream entry with one of the fields: $JOURNAL_FIELDS"
else
    fail "journal: SYSLOG_IDENTIFIER=bookstream entry with one of the fields: $JOURNAL_FIELDS"
    # shellcheck disable=SC2016
    if journal_has 'e.get("SYSLOG_IDENTIFIER") == "bookstream" and any("F_" + f in e for f in fields)'; then
        echo "  hint: the fields are there as F_<NAME>: tracing-journald needs .with_field_prefix(None)"
    fi
    diagnose
fi

# --- reload ------------------------------------------------------------------------
if timeout 120 nsenter -t "$CPID" -a systemctl reload "$UNIT"; then pass "systemctl reload $UNIT"; else fail "systemctl reload $UNIT"; diagnose; fi
D="still active after reload, same MainPID"
if wait_for 10 is_active && [ "$(prop MainPID)" = "$PID1" ]; then pass "$D"; else fail "$D"; fi
# shellcheck disable=SC2016
check "journal: systemd finished the reload job (JOB_TYPE=reload, JOB_RESULT=done)" \
    wait_for 10 journal_has 'e.get("JOB_TYPE") == "reload" and e.get("JOB_RESULT") == "done"'
# shellcheck disable=SC2016
check "journal: the daemon logged its reload (MESSAGE contains 'reload')" \
    wait_for 10 journal_has 'e.get("SYSLOG_IDENTIFIER") == "bookstream" and "reload" in str(e.get("MESSAGE", "")).lower()'

# --- invalid config: reload refused, no restart loop (exit 78) -----------------------
E cp -p /etc/bookstream/bookstream.toml /root/bookstream.toml.good
E sh -c 'printf "\nINVALID = [\n" >>/etc/bookstream/bookstream.toml'
if timeout 120 nsenter -t "$CPID" -a systemctl reload "$UNIT" 2>/dev/null; then
    fail "reload with an invalid config fails (ExecReload check-config)"
else
    pass "reload with an invalid config fails (ExecReload check-config)"
fi
D="daemon untouched by the refused reload (active, same MainPID)"
if is_active && [ "$(prop MainPID)" = "$PID1" ]; then pass "$D"; else fail "$D"; fi
NR0=$(prop NRestarts)
timeout 120 nsenter -t "$CPID" -a systemctl restart "$UNIT" 2>/dev/null || true
sleep 4  # > RestartSec=1s of the drop-in
D="restart with an invalid config: failed with 78, not restarted (ExecMainStatus=$(prop ExecMainStatus), NRestarts $NR0 -> $(prop NRestarts), state $(prop ActiveState))"
if [ "$(prop ActiveState)" = failed ] && [ "$(prop NRestarts)" = "$NR0" ] && [ "$(prop ExecMainStatus)" = 78 ]; then
    pass "$D"
else
    fail "$D"
fi
E cp -p /root/bookstream.toml.good /etc/bookstream/bookstream.toml
E systemctl reset-failed "$UNIT" 2>/dev/null || true
if timeout 120 nsenter -t "$CPID" -a systemctl start "$UNIT" && is_active; then
    pass "starts again with the config restored"
else
    fail "starts again with the config restored"; diagnose
fi

# --- watchdog ------------------------------------------------------------------------
PID2=$(prop MainPID)
NR1=$(prop NRestarts)
# (never "kill -STOP 0": that would stop this script's own process group)
if [ -n "$PID2" ] && [ "$PID2" -gt 0 ] 2>/dev/null; then E kill -STOP "$PID2" || true; fi
log "SIGSTOP to MainPID $PID2; waiting for the watchdog (WatchdogSec=${WATCHDOG_SEC}s)"
restarted() {
    local p; p=$(prop MainPID)
    [ "$(prop NRestarts)" -gt "$NR1" ] && is_active && [ "$p" != 0 ] && [ "$p" != "$PID2" ]
}
if wait_for 60 restarted; then
    pass "watchdog: stopped daemon killed and restarted (NRestarts $NR1 -> $(prop NRestarts), MainPID $PID2 -> $(prop MainPID))"
else
    fail "watchdog: stopped daemon killed and restarted (NRestarts $NR1 -> $(prop NRestarts), state $(prop ActiveState))"
    diagnose
fi
# shellcheck disable=SC2016
check "journal: systemd reported the watchdog timeout" \
    journal_has '"watchdog timeout" in str(e.get("MESSAGE", "")).lower()'

# --- upgrade: %postun try-restart, config noreplace ------------------------------------
PID3=$(prop MainPID)
E sh -c 'printf "\n# ci: local edit\n" >>/etc/bookstream/bookstream.toml'
if out=$(timeout 300 nsenter -t "$CPID" -a rpm -U --nodeps --replacepkgs "$RPM_IN" 2>&1); then
    pass "rpm -U --replacepkgs (upgrade path)"
else
    echo "$out"; fail "rpm -U --replacepkgs (upgrade path)"
fi
if wait_for 30 is_active && [ "$(prop MainPID)" != "$PID3" ]; then R=pass; else R=fail; fi
$R "upgrade restarted the running service (MainPID $PID3 -> $(prop MainPID))"
check "upgrade kept the edited /etc/bookstream/bookstream.toml (noreplace)" \
    E grep -q '^# ci: local edit' /etc/bookstream/bookstream.toml

# --- stop ---------------------------------------------------------------------------
if timeout 60 nsenter -t "$CPID" -a systemctl stop "$UNIT"; then pass "systemctl stop $UNIT"; else fail "systemctl stop $UNIT"; fi
D="stop is clean (Result=$(prop Result), ActiveState=$(prop ActiveState))"
if [ "$(prop Result)" = success ] && [ "$(prop ActiveState)" = inactive ]; then pass "$D"; else fail "$D"; fi
# ExecMainCode 1 = CLD_EXITED (as opposed to killed by the signal).
D="daemon exited 0 on SIGTERM (ExecMainCode=$(prop ExecMainCode), ExecMainStatus=$(prop ExecMainStatus))"
if [ "$(prop ExecMainCode)" = 1 ] && [ "$(prop ExecMainStatus)" = 0 ]; then pass "$D"; else fail "$D"; fi
check "/var/lib/bookstream/cursor.json exists, owned by bookstream" \
    stat_is /var/lib/bookstream/cursor.json "$(E stat -c %a /var/lib/bookstream/cursor.json 2>/dev/null || echo '?') bookstream bookstream"
D="/var/lib/bookstream/cursor.json is JSON"
if E cat /var/lib/bookstream/cursor.json | "$PY" -c 'import json, sys; json.load(sys.stdin)'; then pass "$D"; else fail "$D"; fi

# --- records in Kinesis (moto), at the end --------------------------------------------
NREC_END=$(kinesis_count)
D="records in the moto stream at the end: ${NREC_END:-0} (>= $NREC after the first cycle)"
if [ "${NREC_END:-0}" -gt 0 ] && [ "${NREC_END:-0}" -ge "${NREC:-0}" ]; then pass "$D"; else fail "$D"; fi

# --- erase ----------------------------------------------------------------------------
E systemctl enable "$UNIT" >/dev/null 2>&1 || true
timeout 120 nsenter -t "$CPID" -a systemctl start "$UNIT" || true
D="enabled and running before rpm -e"
if is_active && [ "$(prop UnitFileState)" = enabled ]; then pass "$D"; else fail "$D"; fi
if out=$(timeout 300 nsenter -t "$CPID" -a rpm -e bookstream 2>&1); then pass "rpm -e bookstream"; else echo "$out"; fail "rpm -e bookstream"; fi
D="rpm -e stopped the service (ActiveState=$(prop ActiveState))"
if [ "$(prop ActiveState)" != active ] && ! E pgrep -x bookstream >/dev/null; then pass "$D"; else fail "$D"; fi
D="rpm -e disabled it (no multi-user.target.wants link)"
if E test -e /etc/systemd/system/multi-user.target.wants/bookstream.service; then fail "$D"; else pass "$D"; fi
D="rpm -e removed the unit file and the binary"
if E test -e /usr/lib/systemd/system/bookstream.service || E test -e /usr/bin/bookstream; then fail "$D"; else pass "$D"; fi

if [ "$FAILED" -gt 0 ]; then diagnose; fi
summary
[ "$FAILED" -eq 0 ]
