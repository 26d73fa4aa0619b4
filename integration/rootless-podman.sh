#!/bin/sh
# Rootless podman with berth as its runtime (issue 13): run -d, exec, stop, rm -f, as the test
# user (scripts/test-user.sh), each container a scope unit of the user's own systemd
# (--cgroup-manager systemd, user@UID.service with Delegate=yes: lingering is enabled here).
# Runs inside the systemd host, as root:
#   scripts/systemd-host run -e BERTH=$PWD/target/debug/berth -- sh integration/rootless-podman.sh
# Private storage (vfs), runroot and HOME in a temporary directory; no network. Ends with one
# "N passed, N failed" line; exit status 1 when anything failed.
set -u
BERTH=${BERTH:?BERTH names the berth binary}
user=${BERTH_TEST_USER:-berthtest}
repo=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}
command -v podman >/dev/null || { echo "skipped: no podman here"; finish; }
sh "$repo/scripts/test-user.sh" "$user"
uid=$(id -u "$user")
gid=$(id -g "$user")
loginctl enable-linger "$user" && systemctl start "user@$uid.service" || {
	not_ok "user@$uid.service does not start (libpam-systemd, dbus-user-session)"
	finish
}
D=$(mktemp -d /tmp/berth-rootless-podman.XXXXXX)
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/home"
tar -C "$repo/target/test-rootfs" -cf "$D/rootfs.tar" .
chown -R "$uid:$gid" "$D"
as_user() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups -- env USER="$user" LOGNAME="$user" \
		HOME="$D/home" XDG_RUNTIME_DIR="/run/user/$uid" \
		DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$uid/bus" "$@"
}
# The systemd host has no cgroup controllers (this machine binds them all to v1): no pids limit.
p() {
	(cd "$D" && as_user timeout 60 podman --root "$D/storage" --runroot "$D/run" --storage-driver vfs \
		--runtime "$BERTH" --cgroup-manager systemd --events-backend file "$@")
}
run_opts="--network none --pids-limit 0"
# gone PID START: the process that had this start time has exited (or is a zombie).
gone() {
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	set -- "$1" "$2" $(echo "${stat##*) }")
	[ "$3" = Z ] || [ "$3" = X ] || [ "${22}" != "$2" ]
}
start_time() { set -- $(sed 's/.*) //' "/proc/$1/stat"); echo "${20}"; }

if p import "$D/rootfs.tar" localhost/berth-rootless >"$D/import.log" 2>&1; then
	ok "podman import"
else
	not_ok "podman import: $(tail -1 "$D/import.log")"
	finish
fi

if p run -d --name c1 $run_opts localhost/berth-rootless sleep 1000 >"$D/run.log" 2>&1; then
	ok "podman run -d"
else
	not_ok "podman run -d: $(tail -1 "$D/run.log")"
fi
pid=$(p inspect -f '{{.State.Pid}}' c1 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$(stat -c %u "/proc/$pid")" = "$uid" ]; then
	ok "the container's init runs as the user ($pid)"
else
	not_ok "the container's init: pid '$pid'"
fi
out=$(p exec c1 id -u 2>&1)
[ "$out" = 0 ] && ok "podman exec (root in the user namespace)" || not_ok "podman exec: $out"
start=$(start_time "$pid")
if p stop -t 2 c1 >"$D/stop.log" 2>&1 && gone "$pid" "$start"; then
	ok "podman stop: init gone when it returns"
else
	not_ok "podman stop: $(tail -1 "$D/stop.log"), init ${pid}: $(cat /proc/$pid/stat 2>/dev/null)"
fi
p rm c1 >/dev/null 2>&1 && ok "podman rm" || not_ok "podman rm"

p run -d --name c2 $run_opts localhost/berth-rootless sh -c 'trap "" TERM; sleep 1000 & sleep 1001 & wait' >/dev/null 2>&1
pid=$(p inspect -f '{{.State.Pid}}' c2 2>/dev/null)
p exec -d c2 sleep 1002 >/dev/null 2>&1
sleep_pids=$(pgrep -u "$uid" -f 'sleep 100[012]')
snap=""
for s in $pid $sleep_pids; do snap="$snap $s:$(start_time "$s")"; done
if p rm -f -t 0 c2 >"$D/rmf.log" 2>&1; then
	left=""
	for e in $snap; do gone "${e%%:*}" "${e#*:}" || left="$left ${e%%:*}"; done
	[ -z "$left" ] && ok "podman rm -f: all $(echo $snap | wc -w) processes gone when it returns" ||
		not_ok "podman rm -f left:$left"
else
	not_ok "podman rm -f: $(tail -1 "$D/rmf.log")"
fi
[ -z "$(p ps -aq)" ] && ok "no container left" || not_ok "containers left: $(p ps -a)"
p system reset -f >/dev/null 2>&1
finish
