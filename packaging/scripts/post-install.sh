# %post (like %systemd_post + %tmpfiles_create). $1: 1 = install, 2+ = upgrade.
# Tolerates a system where systemd is not running (chroot, image build).
systemd-tmpfiles --create /usr/lib/tmpfiles.d/bookstream.conf >/dev/null 2>&1 || :
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
    # Enables the unit or not, as the system's presets say (AL2023: not).
    systemctl --no-reload preset bookstream.service >/dev/null 2>&1 || :
fi
exit 0
