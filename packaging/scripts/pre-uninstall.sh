# %preun (like %systemd_preun). $1: 0 = erase, 1+ = upgrade (nothing to do).
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now bookstream.service >/dev/null 2>&1 \
        || systemctl --no-reload disable bookstream.service >/dev/null 2>&1 || :
fi
exit 0
