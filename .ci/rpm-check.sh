#!/usr/bin/env bash
# Static checks of the bookstream RPM with rpm's own tools, rpmlint and
# systemd-analyze:  .ci/rpm-check.sh RPM
# Prints one PASS:/FAIL: line per check, the unit's exposure score, and
# "N passed, N failed" last; exits non-zero on any failure.
# Needs: rpm, rpm2cpio, cpio, rpmlint, systemd-analyze, readelf (installed
# with apt-get if missing and root). x86_64 and aarch64 RPMs.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1" ]; then echo "usage: $0 RPM" >&2; exit 2; fi
RPM=$(realpath "$1")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GLIBC_MAX=2.34
EXPOSURE_MAX=1.5
UNIT=bookstream.service

PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

missing=()
for t in rpm:rpm rpm2cpio:rpm2cpio cpio:cpio rpmlint:rpmlint systemd-analyze:systemd readelf:binutils; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
    else
        echo "$0: missing packages: ${missing[*]}" >&2; exit 2
    fi
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
q() { rpm -qp "$@" "$RPM" 2>/dev/null; }

# --- header ---------------------------------------------------------------------
NEVRA=$(q --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}')
read -r NAME _ ARCH <<<"$NEVRA"
case "$NAME $ARCH" in
    "bookstream x86_64"|"bookstream aarch64") pass "package name bookstream, arch $ARCH ($NEVRA)" ;;
    *) fail "package name bookstream, arch x86_64 or aarch64 ($NEVRA)" ;;
esac

if out=$(rpm -K --nosignature "$RPM" 2>&1); then
    pass "rpm -K --nosignature: header and payload digests OK"
else
    fail "rpm -K --nosignature: $out"
fi

# --- files: exact list, modes, owners, flags ------------------------------------------
# path                                         mode       user group      flags
EXPECTED='/etc/bookstream/bookstream.toml -rw-r----- root bookstream cn
/usr/bin/bookstream -rwxr-xr-x root root -
/usr/lib/systemd/system/bookstream.service -rw-r--r-- root root -
/usr/lib/sysusers.d/bookstream.conf -rw-r--r-- root root -
/usr/lib/tmpfiles.d/bookstream.conf -rw-r--r-- root root -
/usr/share/doc/bookstream/LICENSE -rw-r--r-- root root d
/usr/share/doc/bookstream/README.md -rw-r--r-- root root d'
q -l | sort >"$WORK/list"
cut -d' ' -f1 <<<"$EXPECTED" | sort >"$WORK/want"
if diff -u "$WORK/want" "$WORK/list" >"$WORK/list.diff"; then
    pass "rpm -qlp: exactly the expected files"
else
    fail "rpm -qlp: exactly the expected files (- missing, + unexpected):"; sed -n '3,$p' "$WORK/list.diff"
fi
q --qf '[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}\n]' \
    | awk '{ if ($5 == "") $5 = "-"; print }' | sort >"$WORK/attrs"
if diff -u <(sort <<<"$EXPECTED") "$WORK/attrs" >"$WORK/attrs.diff"; then
    pass "modes, owners and flags (rpm -qp --qf FILEMODES/FILEUSERNAME/FILEGROUPNAME/FILEFLAGS)"
else
    fail "modes, owners and flags (- expected, + in the RPM):"; sed -n '3,$p' "$WORK/attrs.diff"
fi
# --dump: path size mtime digest mode owner group isconfig isdoc rdev symlink
DUMP_CFG=$(q --dump | awk '$1 == "/etc/bookstream/bookstream.toml" {print $5, $6, $7, $8}')
check "rpm -qp --dump: bookstream.toml 0100640 root bookstream, config ($DUMP_CFG)" \
    test "$DUMP_CFG" = "0100640 root bookstream 1"
check "rpm -qpc lists only /etc/bookstream/bookstream.toml" test "$(q -c)" = /etc/bookstream/bookstream.toml
check "bookstream.toml is %config(noreplace)" \
    test "$(q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' | awk '$2 == "/etc/bookstream/bookstream.toml" {print $1}')" = cn

# --- payload ------------------------------------------------------------------------
P=$WORK/root
mkdir -p "$P"
# rpm2cpio exits 1 on cargo-generate-rpm's packages although it writes the
# whole archive (its header's archive size does not match): judge by the files.
(cd "$P" && { rpm2cpio "$RPM" || true; } | cpio -idm --quiet 2>/dev/null) || true
check "payload extracts (rpm2cpio | cpio)" test -f "$P/usr/lib/systemd/system/$UNIT"
if [ -f "$REPO/systemd/$UNIT" ]; then
    if cmp -s "$REPO/systemd/$UNIT" "$P/usr/lib/systemd/system/$UNIT"; then
        echo "note: the RPM's unit is the same as systemd/$UNIT"
    else
        echo "WARNING: the RPM's unit differs from $REPO/systemd/$UNIT (stale RPM?)"
    fi
fi
ELF_MAGIC=$(head -c 4 "$P/usr/bin/bookstream" | od -An -c | tr -d ' ')
check "/usr/bin/bookstream is an ELF binary" test "$ELF_MAGIC" = '177ELF'
if command -v readelf >/dev/null 2>&1; then
    MACHINE=$(readelf -h "$P/usr/bin/bookstream" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    case "$ARCH:$MACHINE" in
        x86_64:*X86-64*|aarch64:AArch64) pass "binary's machine ($MACHINE) matches the RPM's arch ($ARCH)" ;;
        *) fail "binary's machine ($MACHINE) matches the RPM's arch ($ARCH)" ;;
    esac
fi

# --- the product carries no test rig (crates/testsite, `demo`) -----------------------------
# Markers: the test site's Server header, the demo's emulator, the test-site banner.
RIG=$(strings -a "$P/usr/bin/bookstream" | grep -E -o 'bookstream-testsite|moto_server|listening on http' | sort -u | tr '\n' ' ' || true)
check "strings finds no test site or demo in /usr/bin/bookstream (found: ${RIG:-none})" test -z "$RIG"
if [ "$ARCH" = "$(uname -m)" ]; then
    HELP=$("$P/usr/bin/bookstream" --help 2>&1 || true)
    echo "$HELP" | sed 's/^/  | /'
    check "bookstream --help lists run and no demo or test-site subcommand" \
        eval 'echo "$HELP" | grep -qE "^ +run " && ! echo "$HELP" | grep -qE "^ +(demo|test-site) "'
fi

# --- requires / glibc -------------------------------------------------------------------
q -R >"$WORK/requires"
max_glibc() { grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -V | tail -n 1; }
RPM_GLIBC=$(max_glibc <"$WORK/requires" || true)
echo "requires: $(tr '\n' ' ' <"$WORK/requires")"
check "rpm -qpR lists the libc symbol versions (auto-req ran)" test -n "$RPM_GLIBC"
if grep -E 'GLIBC_2\.(3[5-9]|[4-9][0-9])|GLIBC_[3-9]\.' "$WORK/requires" >"$WORK/toonew"; then
    fail "no GLIBC_ above $GLIBC_MAX in rpm -qpR (Amazon Linux 2023): $(tr '\n' ' ' <"$WORK/toonew")"
else
    pass "no GLIBC_ above $GLIBC_MAX in rpm -qpR (max: GLIBC_${RPM_GLIBC:-none})"
fi
if command -v readelf >/dev/null 2>&1; then
    # readelf (unlike objdump) reads foreign-architecture ELF files too.
    BIN_GLIBC=$(readelf -W -V "$P/usr/bin/bookstream" 2>/dev/null | max_glibc || true)
    check "binary's own max GLIBC_ (readelf -V: ${BIN_GLIBC:-none}) is the one rpm -qpR lists" \
        test "${BIN_GLIBC:-x}" = "${RPM_GLIBC:-y}"
fi

# --- scriptlets ------------------------------------------------------------------------
# tag  must contain (extended regexes, all)
scriptlet_check() {
    local tag=$1 what=$2 body prog re; shift 2
    body=$(q --qf "%{$tag}")
    prog=$(q --qf "%{${tag}PROG}")
    if [ "$body" = "(none)" ] || [ -z "$body" ]; then fail "$what present"; return; fi
    printf '%s\n' "$body" >"$WORK/$tag.sh"
    case $prog in ''|'(none)'|/bin/sh) ;; *) fail "$what: interpreter is /bin/sh (got $prog)"; return ;; esac
    if ! sh -n "$WORK/$tag.sh"; then fail "$what: sh -n syntax check"; return; fi
    if command -v shellcheck >/dev/null 2>&1 && ! shellcheck -s sh "$WORK/$tag.sh"; then
        fail "$what: shellcheck -s sh"; return
    fi
    for re in "$@"; do
        if ! grep -Eq -- "$re" "$WORK/$tag.sh"; then fail "$what: contains /$re/"; return; fi
    done
    pass "$what present, /bin/sh, syntax ok, does: $*"
}
# shellcheck disable=SC2016 # regexes, matched literally against the scriptlets
scriptlet_check PREIN "%pre (create user)" \
    'systemd-sysusers --replace=/usr/lib/sysusers.d/bookstream\.conf' 'useradd -r' 'getent passwd bookstream'
# shellcheck disable=SC2016
scriptlet_check POSTIN "%post" 'systemctl daemon-reload' '"\$1" -eq 1' 'systemctl --no-reload preset bookstream\.service' \
    'systemd-tmpfiles --create /usr/lib/tmpfiles\.d/bookstream\.conf'
# shellcheck disable=SC2016
scriptlet_check PREUN "%preun" '"\$1" -eq 0' 'systemctl --no-reload disable --now bookstream\.service'
# shellcheck disable=SC2016
scriptlet_check POSTUN "%postun" 'systemctl daemon-reload' '"\$1" -ge 1' 'systemctl try-restart bookstream\.service'
# Every systemctl call must tolerate a system without a running systemd.
if grep -h 'systemctl' "$WORK"/PRE*.sh "$WORK"/POST*.sh 2>/dev/null | grep -v '^[[:space:]]*#' \
        | grep -v -e '|| :' -e '\\$' >"$WORK/untolerant"; then
    fail "every systemctl call in the scriptlets ends in '|| :':"; cat "$WORK/untolerant"
else
    pass "every systemctl call in the scriptlets ends in '|| :'"
fi
SYSUSERS_LINE=$(grep -v '^[[:space:]]*\(#\|$\)' "$P/usr/lib/sysusers.d/bookstream.conf" 2>/dev/null || true)
check "%pre creates the user of the packaged sysusers.d file ($SYSUSERS_LINE)" \
    grep -qxF -- "$SYSUSERS_LINE" "$WORK/PREIN.sh"

# --- sysusers / tmpfiles, applied to a scratch root ---------------------------------------
S=$WORK/scratch
mkdir -p "$S/etc"
: >"$S/etc/passwd"; : >"$S/etc/group"; : >"$S/etc/shadow"; : >"$S/etc/gshadow"
if out=$(systemd-sysusers --root="$S" "$P/usr/lib/sysusers.d/bookstream.conf" 2>&1) \
        && grep -q '^bookstream:x:[0-9]*:[0-9]*:bookstream daemon:/var/lib/bookstream:/usr/sbin/nologin$' "$S/etc/passwd"; then
    pass "sysusers.d file creates bookstream (system, home /var/lib/bookstream, nologin)"
else
    fail "sysusers.d file creates bookstream: $out $(cat "$S/etc/passwd")"
fi
BS_IDS=$(awk -F: '$1 == "bookstream" {print $3, $4}' "$S/etc/passwd")
if out=$(systemd-tmpfiles --root="$S" --create "$P/usr/lib/tmpfiles.d/bookstream.conf" 2>&1) \
        && [ -n "$BS_IDS" ] && [ "$(stat -c '%a %u %g' "$S/var/lib/bookstream" 2>/dev/null)" = "750 $BS_IDS" ]; then
    pass "tmpfiles.d file creates /var/lib/bookstream 0750 bookstream:bookstream"
else
    fail "tmpfiles.d file creates /var/lib/bookstream 0750 bookstream:bookstream: $out $(stat -c '%a %u %g' "$S/var/lib/bookstream" 2>&1)"
fi

# --- the unit ---------------------------------------------------------------------------
# verify: needs the unit in a root with systemd's own units, the ExecStart
# binary (the RPM's) and /bin/kill (ExecReload). Any output is a failure.
V=$WORK/vroot
mkdir -p "$V/usr/lib/systemd" "$V/bin" "$V/usr/bin"
cp -a /usr/lib/systemd/system "$V/usr/lib/systemd/"
cp "$P/usr/lib/systemd/system/$UNIT" "$V/usr/lib/systemd/system/$UNIT"
cp "$P/usr/bin/bookstream" "$V/usr/bin/bookstream"
printf '#!/bin/sh\n' >"$V/bin/kill"; chmod 755 "$V/bin/kill"
VERIFY=$(systemd-analyze verify --root="$V" "$UNIT" 2>&1 || echo "(exit status $?)")
if [ -z "$VERIFY" ]; then
    pass "systemd-analyze verify $UNIT prints nothing"
else
    fail "systemd-analyze verify $UNIT prints nothing:"; printf '%s\n' "$VERIFY"
fi
KEYS_OK=()
# shellcheck disable=SC2016 # $MAINPID is for systemd
for k in 'Type=notify' 'NotifyAccess=main' 'User=bookstream' 'StateDirectory=bookstream' \
         'Restart=on-failure' 'RestartPreventExitStatus=78 74 65' 'MemoryMax=128M' 'TasksMax=64' \
         'ExecStartPre=-/usr/bin/bookstream check-config --config /etc/bookstream/bookstream.toml' \
         'ExecStart=/usr/bin/bookstream run --config /etc/bookstream/bookstream.toml' \
         'ExecReload=/bin/kill -HUP $MAINPID' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    if grep -qxF -- "$k" "$V/usr/lib/systemd/system/$UNIT"; then KEYS_OK+=("$k"); else fail "unit has '$k'"; fi
done
if grep -qE '^WatchdogSec=[1-9]' "$V/usr/lib/systemd/system/$UNIT"; then
    pass "unit has the contract's settings (${#KEYS_OK[@]} lines checked) and WatchdogSec=$(sed -n 's/^WatchdogSec=//p' "$V/usr/lib/systemd/system/$UNIT")"
else
    fail "unit has WatchdogSec="
fi
SEC=$(systemd-analyze security --offline=true --no-pager "$V/usr/lib/systemd/system/$UNIT" 2>&1 || true)
SCORE=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$SEC")
echo "systemd-analyze security exposure of $UNIT: ${SCORE:-?} $(sed -n 's/.*Overall exposure level for [^:]*: [0-9.]* //p' <<<"$SEC")"
if [ -n "$SCORE" ] && awk -v s="$SCORE" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s <= m) }'; then
    pass "exposure $SCORE <= $EXPOSURE_MAX"
else
    fail "exposure ${SCORE:-?} <= $EXPOSURE_MAX"; printf '%s\n' "$SEC" | grep '✗' || true
fi

# --- rpmlint ------------------------------------------------------------------------------
LINT_CFG=$REPO/packaging/rpmlint.toml
LINT_ARGS=()
[ -f "$LINT_CFG" ] && LINT_ARGS=(-c "$LINT_CFG")
LINT=$(rpmlint "${LINT_ARGS[@]}" "$RPM" 2>&1 || true)
FINDINGS=$(grep -E '^[^ ]+: [EW]: ' <<<"$LINT" || true)
if [ -z "$FINDINGS" ] && grep -q '0 errors, 0 warnings' <<<"$LINT"; then
    pass "rpmlint${LINT_ARGS[*]:+ ${LINT_ARGS[*]}}: no errors, no warnings"
else
    fail "rpmlint${LINT_ARGS[*]:+ ${LINT_ARGS[*]}}: no errors, no warnings:"; printf '%s\n' "$LINT" | grep -E ': [EW]: |checked;'
fi

printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
