# %pre: create the system user and group before the payload (which has files
# owned by group "bookstream") is unpacked. Same as %sysusers_create_compat:
# systemd-sysusers with the packaged sysusers.d line, useradd as a fallback.
# Works without a running systemd (chroot, image build). $1: 1 = install,
# 2+ = upgrade.
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers --replace=/usr/lib/sysusers.d/bookstream.conf - <<'SYSUSERS' >/dev/null 2>&1 || :
u bookstream - "bookstream daemon" /var/lib/bookstream /usr/sbin/nologin
SYSUSERS
fi
if ! getent group bookstream >/dev/null 2>&1; then
    groupadd -r bookstream >/dev/null 2>&1 || :
fi
if ! getent passwd bookstream >/dev/null 2>&1; then
    useradd -r -g bookstream -d /var/lib/bookstream -M -s /usr/sbin/nologin \
        -c "bookstream daemon" bookstream >/dev/null 2>&1 || :
fi
if ! getent passwd bookstream >/dev/null 2>&1; then
    echo "bookstream: warning: could not create the system user 'bookstream'" >&2
fi
exit 0
