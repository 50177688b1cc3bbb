# %postun (like %systemd_postun_with_restart). $1: 0 = erase, 1+ = upgrade.
# The user, /etc/bookstream edits (rpmsave) and /var/lib/bookstream are kept.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart bookstream.service >/dev/null 2>&1 || :
    fi
fi
exit 0
