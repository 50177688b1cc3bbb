#!/usr/bin/env bash
# Build the bookstream RPM for Amazon Linux 2023 from a clean checkout:
#   packaging/build-rpm.sh
# 1. installs its tools if missing (cargo-zigbuild + ziglang from PyPI,
#    cargo-generate-rpm from crates.io, rpm/binutils from apt),
# 2. builds the release binary against glibc 2.34 (AL2023's) with
#    `cargo zigbuild --target x86_64-unknown-linux-gnu.2.34`, which writes
#    target/x86_64-unknown-linux-gnu/release/bookstream (the first asset of
#    packaging/rpm-metadata.toml),
# 3. runs `cargo generate-rpm` with the [package.metadata.generate-rpm] of
#    Cargo.toml, which must be the same as packaging/rpm-metadata.toml (it
#    is pasted there from this file),
# 4. prints the RPM's path and the highest GLIBC_ version it requires, and
#    fails if that is above 2.34.
# Idempotent. The last line of stdout is the RPM's path.
# Environment: CARGO_BUILD_JOBS (e.g. 1) is honoured by cargo;
# BOOKSTREAM_SKIP_BUILD=1 packages the binary already in place (no build).
set -euo pipefail

readonly GLIBC_MAX=2.34
readonly TRIPLE=x86_64-unknown-linux-gnu
readonly BIN=target/$TRIPLE/release/bookstream
readonly OUT_DIR=target/generate-rpm

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
log() { printf 'build-rpm: %s\n' "$*" >&2; }
die() { printf 'build-rpm: ERROR: %s\n' "$*" >&2; exit 1; }

# The asset paths are relative to the repository; keep cargo's output there.
export CARGO_TARGET_DIR="$REPO/target"
unset CARGO_BUILD_TARGET CARGO_BUILD_TARGET_DIR

# --- tools -------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
PY=$(command -v python3 || true)
[ -n "$PY" ] || die "python3 is needed (for pip and tomllib)"

apt_install() {
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        log "installing $* with apt-get"
        apt-get install -y -q "$@" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$@" >/dev/null; }
    else
        die "missing tool; install the package(s): $*"
    fi
}
command -v rpm >/dev/null 2>&1 || apt_install rpm
command -v objdump >/dev/null 2>&1 || apt_install binutils

# Where pip puts cargo-zigbuild (pyenv/venv bin, or ~/.local/bin for --user).
PATH="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! "$PY" -m ziglang version >/dev/null 2>&1; then
    log "installing ziglang and cargo-zigbuild from PyPI"
    "$PY" -m pip install -q ziglang cargo-zigbuild \
        || "$PY" -m pip install -q --user --break-system-packages ziglang cargo-zigbuild
    hash -r
    command -v cargo-zigbuild >/dev/null 2>&1 || die "cargo-zigbuild not on PATH after pip install"
fi
if ! cargo generate-rpm --version >/dev/null 2>&1; then
    log "installing cargo-generate-rpm (cargo install, a few minutes)"
    cargo install cargo-generate-rpm --locked
fi

# --- inputs ------------------------------------------------------------------
for f in Cargo.toml Cargo.lock config/bookstream.toml LICENSE README.md \
         systemd/bookstream.service systemd/bookstream.sysusers systemd/bookstream.tmpfiles \
         packaging/rpm-metadata.toml packaging/scripts/pre-install.sh \
         packaging/scripts/post-install.sh packaging/scripts/pre-uninstall.sh \
         packaging/scripts/post-uninstall.sh; do
    [ -f "$f" ] || die "missing $f"
done

# Cargo.toml's [package.metadata.generate-rpm] must be packaging/rpm-metadata.toml's.
META_STATE=$("$PY" - <<'PY'
import tomllib
with open("Cargo.toml", "rb") as f:
    cargo = tomllib.load(f)
with open("packaging/rpm-metadata.toml", "rb") as f:
    ours = tomllib.load(f)["package"]["metadata"]["generate-rpm"]
theirs = cargo.get("package", {}).get("metadata", {}).get("generate-rpm")
print("absent" if theirs is None else ("same" if theirs == ours else "different"))
PY
)
case $META_STATE in
    same) ;;
    absent) die "Cargo.toml has no [package.metadata.generate-rpm]: paste packaging/rpm-metadata.toml at its end" ;;
    *) die "[package.metadata.generate-rpm] in Cargo.toml differs from packaging/rpm-metadata.toml: make them the same" ;;
esac

# --- binary ------------------------------------------------------------------
if [ "${BOOKSTREAM_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo zigbuild --release --locked --no-default-features --target $TRIPLE.$GLIBC_MAX (no demo, no test site)"
    cargo zigbuild --release --locked --no-default-features --target "$TRIPLE.$GLIBC_MAX" --bin bookstream >&2
fi
[ -x "$BIN" ] || die "$BIN was not built"

# Highest GLIBC_x.y symbol version in `objdump -T` output (or rpm -qpR) on stdin.
max_glibc() { grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -V | tail -n 1; }
version_gt() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }

BIN_GLIBC=$(objdump -T "$BIN" | max_glibc)
[ -n "$BIN_GLIBC" ] || die "$BIN references no GLIBC_ symbol version (not a glibc binary?)"
if version_gt "$BIN_GLIBC" "$GLIBC_MAX"; then
    die "$BIN needs GLIBC_$BIN_GLIBC > $GLIBC_MAX: $(objdump -T "$BIN" | grep -E "GLIBC_$BIN_GLIBC" | head -n 5 | tr -s ' ' | tr '\n' ';')"
fi

# --- RPM ---------------------------------------------------------------------
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/bookstream-*.rpm
# Reproducible file times and build time: the last commit's, when there is one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && SDE=$(git log -1 --format=%ct 2>/dev/null) && [ -n "$SDE" ]; then
    export SOURCE_DATE_EPOCH=$SDE
fi
log "cargo generate-rpm"
cargo generate-rpm -o "$OUT_DIR/" >&2
RPMS=("$OUT_DIR"/bookstream-*.rpm)
if [ "${#RPMS[@]}" -ne 1 ] || [ ! -f "${RPMS[0]}" ]; then
    die "expected one RPM in $OUT_DIR, found: ${RPMS[*]}"
fi
RPM_PATH="$REPO/${RPMS[0]}"

RPM_GLIBC=$(rpm -qpR "$RPM_PATH" 2>/dev/null | max_glibc)
[ -n "$RPM_GLIBC" ] || die "rpm -qpR $RPM_PATH lists no GLIBC_ requirement (auto-req missing?)"
if version_gt "$RPM_GLIBC" "$GLIBC_MAX"; then
    die "$RPM_PATH requires GLIBC_$RPM_GLIBC > $GLIBC_MAX"
fi
log "binary GLIBC max: $BIN_GLIBC; RPM requires GLIBC max: $RPM_GLIBC (limit $GLIBC_MAX)"
echo "max GLIBC required: GLIBC_$RPM_GLIBC"
echo "$RPM_PATH"
