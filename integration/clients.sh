#!/bin/bash
# End-to-end tests of berth as the runtime binary of real clients, on this machine:
#   ctr     -> containerd 1.6 -> containerd-shim-runc-v2 -> berth
#   docker  -> dockerd 20.10  -> containerd -> containerd-shim-runc-v2 -> berth
#   podman  -> conmon -> berth
# Needs root and Debian 12 (installs containerd, docker.io and podman with apt-get when missing).
# Starts its own containerd and dockerd on private sockets and state directories under a temporary
# directory, and runs podman with a private root, runroot and containers.conf: the host's
# /run/containerd, /var/lib/docker and /var/lib/containers are never used.
#
# For each client, with the runtime under test: run detached; exec (output, exit code, -t, user/cwd/env,
# a missing executable); run -t (console socket); ps/top; pause/resume; update (memory, cpu shares,
# pids); kill TERM to a process that traps it; kill KILL (137); stop; rm -f of a container with several
# processes, and of a paused one; a host PID namespace container (leftovers killed when init exits,
# kill --all / rm -f / stop); for ctr, a shim killed (containerd's clean-up runs the runtime's
# delete --force); a failing create (missing executable) whose error reaches the user, and the exit
# status the client derives from it. After each scenario no process, cgroup, runtime state directory,
# containerd bundle, shim or conmon of the container may be left (under systemd: nor unit, see below).
#
# Quirks of this machine and of the clients, handled here: ctr's spec for --rootfs has no PATH (passed
# with --env); /proc/1/ns is unreadable (PID 1 holds CAP_SYS_RESOURCE, root here does not), so ctr's
# host-PID container joins /proc/$$/ns/pid; podman's default ulimits exceed the hard limits (explicit
# --ulimit); dockerd 20.10 would write /etc/docker/key.json (moved by daemon.json); podman reads
# DOCKER_CONFIG (kept private to the docker client); /usr/local/bin/docker may be a newer client
# (Debian's /usr/bin/docker is used).
#
# Prints TAP-like lines and a final "N passed, N failed, N skipped" line; exits 1 on any failure.
# Always tears down its containers, daemons and temporary directory (trap EXIT).
#
# Environment:
#   BERTH=PATH               berth binary (default target/release/berth, else target/debug/berth)
#   RUNTIME_UNDER_TEST=PATH  test another runc-compatible runtime instead (e.g. /usr/sbin/runc)
#   CLIENTS="ctr docker podman"  which clients to test
#   CLIENTS_TRACE=1          wrap the runtime in integration/clients/trace-runtime.sh: every runtime
#                            call (argv, exit status, and stdio where it is not the container's) is
#                            logged and printed under a failing scenario; the whole log is kept
#   CLIENTS_ONLY=REGEX       only the scenarios whose "client: name" matches (set-up steps always run)
#   CLIENTS_REPEAT=N         run each scenario N times (to hunt a flaky one)
#   CLIENTS_KEEP=DIR         copy the logs (client output, daemon logs, runtime trace) to DIR at exit
#   CLIENTS_TIMEOUT=540      seconds after which the run is aborted (teardown follows)
#   CLIENTS_NO_INSTALL=1     do not apt-get install anything (fail if a client is missing)
#   CLIENTS_CGROUP_DRIVER=cgroupfs|systemd
#                            the clients' cgroup driver (default cgroupfs). systemd needs systemd as
#                            PID 1 and the unified cgroup hierarchy alone: run it in the systemd test
#                            host, see "Under systemd" below.
#
# Under systemd (CLIENTS_CGROUP_DRIVER=systemd):
#   scripts/systemd-host up
#   scripts/systemd-host run -e CLIENTS_CGROUP_DRIVER=systemd -e BERTH=$PWD/target/debug/berth \
#       -- bash integration/clients.sh
# Each client uses its systemd cgroup driver, so the runtime gets --systemd-cgroup and a cgroupsPath
# "slice:prefix:name" and puts the container into the scope unit prefix-name.scope:
#   ctr: --runc-systemd-cgroup (the runc shim's SystemdCgroup option) needs an explicit --cgroup;
#        we pass system.slice:containerd:ID (containerd-ID.scope);
#   docker: --exec-opt native.cgroupdriver=systemd: system.slice:docker:ID (docker-ID.scope);
#   podman: --cgroup-manager systemd: machine.slice:libpod:ID (libpod-ID.scope), and conmon in a
#        scope of its own, libpod-conmon-ID.scope.
# Leftover checks then also look at systemd's units: none whose name contains the container's id may
# be active, activating, deactivating or failed; and right after an rm -f (without the grace
# assert_clean gives the clients) the container's scope and its cgroup must be gone. The scenarios
# check that the container's processes (exec'd ones too) run in the scope the client asked for.
# The host's cgroup2 tree has no controllers (this machine binds cpu, memory and pids to cgroup v1),
# so containers get no resource limits there: the update scenarios are skipped, ctr runs with
# --cpu-shares 0 (its default is 1024) and podman with pids_limit = 0 (its default is 2048); pause
# is checked with cgroup v2's cgroup.events.
# Container processes run `sleep 318NNNN` there instead of `sleep 317NNNN`, so that a run on the
# machine's own layout (which sees the host's processes) never takes them for its own.
set -u
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

if [ -z "${BERTH:-}" ]; then
	BERTH=$repo/target/release/berth
	[ -x "$BERTH" ] || BERTH=$repo/target/debug/berth
fi
RUNTIME_UNDER_TEST=${RUNTIME_UNDER_TEST:-$BERTH}
CLIENTS=${CLIENTS:-ctr docker podman}
CLIENTS_TRACE=${CLIENTS_TRACE:-0}
CLIENTS_TIMEOUT=${CLIENTS_TIMEOUT:-540}
CLIENTS_CGROUP_DRIVER=${CLIENTS_CGROUP_DRIVER:-cgroupfs}
SYSTEMD=                 # set under the systemd cgroup driver
MARK=317                 # first digits of the markers (see marker)
case $CLIENTS_CGROUP_DRIVER in
cgroupfs) ;;
systemd) SYSTEMD=1 MARK=318 ;;
*)
	echo "CLIENTS_CGROUP_DRIVER must be cgroupfs or systemd, not '$CLIENTS_CGROUP_DRIVER'" >&2
	exit 1
	;;
esac
# cgroup v2 alone at /sys/fs/cgroup (the systemd host) or v1 controllers (this machine's hybrid layout).
CGROUP2=
[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] && CGROUP2=1
# Set when the cgroup2 tree lacks the cpu, memory or pids controller (the systemd host: this machine
# binds them to cgroup v1): no resource limits then (see the header).
NOCTL=
if [ -n "$CGROUP2" ]; then
	for c in cpu memory pids; do
		grep -qw "$c" /sys/fs/cgroup/cgroup.controllers 2>/dev/null || NOCTL=1
	done
fi

# Debian's docker client; /usr/local/bin may hold a newer one that shadows it.
DOCKER_BIN=/usr/bin/docker
NS=clxns              # containerd namespace of the ctr scenarios (docker uses "moby")
IMAGE=clx-busybox:latest
START=$SECONDS

if [ "$(id -u)" != 0 ]; then
	echo "clients.sh needs root" >&2
	exit 1
fi
if [ -n "$SYSTEMD" ] && { [ ! -d /run/systemd/system ] || [ -z "$CGROUP2" ]; }; then
	echo "CLIENTS_CGROUP_DRIVER=systemd needs systemd as PID 1 and cgroup v2 alone at /sys/fs/cgroup:" \
		"run it in scripts/systemd-host" >&2
	exit 1
fi
if [ ! -x "$RUNTIME_UNDER_TEST" ]; then
	echo "runtime $RUNTIME_UNDER_TEST not found: cargo build --release, or set BERTH / RUNTIME_UNDER_TEST" >&2
	exit 1
fi

T=$(mktemp -d /tmp/berth-clients.XXXXXX)
chmod 755 "$T"
LOGS=$T/logs
mkdir -p "$LOGS" "$T/bin"
TRACE=$LOGS/runtime-trace.log
: >"$TRACE"

# ------------------------------------------------------------------------------------------------
# Output

n=0 passed=0 failed=0 skipped=0
say() { echo "# $*"; }

# report NAME STATUS LOGFILE [IDS]: one TAP line; a failure shows its log and the runtime calls on IDS.
report() {
	local name=$1 status=$2 log=$3 ids=${4:-}
	if [ "$status" = 0 ]; then
		passed=$((passed + 1))
		echo "ok $n $name"
	else
		failed=$((failed + 1))
		echo "not ok $n $name"
		sed 's/^/#   /' "$log" | tail -n 60
		if [ "$CLIENTS_TRACE" = 1 ] && [ -n "$ids" ]; then
			local pat
			pat=$(echo "$ids" | tr ' ' '|')
			echo "#   runtime calls on $ids:"
			awk -v pat="$pat" '/^[0-9][0-9]:/ { keep = ($0 ~ pat) } keep' "$TRACE" | sed 's/^/#     /' | tail -n 60
		fi
	fi
}

SUMMARY_DONE=
summary() {
	SUMMARY_DONE=1
	echo "1..$n"
	echo "# $((SECONDS - START))s"
	echo "$passed passed, $failed failed, $skipped skipped"
}

skip() { # skip NAME REASON
	n=$((n + 1))
	skipped=$((skipped + 1))
	echo "ok $n $1 # SKIP $2"
}

# scenario CLIENT NAME FUNC ARGS...: runs FUNC in a subshell (it fails by exiting non-zero, see fail),
# cleans up after a failure whatever it registered with track, and prints the TAP line; CLIENTS_REPEAT
# times, when CLIENT: NAME matches CLIENTS_ONLY.
scenario() {
	[[ "$1: $2" =~ ${CLIENTS_ONLY:-.} ]] || return 0
	local r
	for ((r = 0; r < ${CLIENTS_REPEAT:-1}; r++)); do scenario_once "$@"; done
}
scenario_once() {
	local client=$1 name=$2
	shift 2
	n=$((n + 1))
	local log=$LOGS/$n.log
	: >"$LOGS/$n.ids"
	local t0=$SECONDS
	(
		exec </dev/null
		"$@"
	) >"$log" 2>&1
	local rc=$?
	local ids
	ids=$(sort -u "$LOGS/$n.ids" | tr '\n' ' ' | sed 's/ $//')
	if [ "$rc" != 0 ] && [ -n "$ids" ]; then
		echo "(cleaning up after the failure)" >>"$log"
		local id
		for id in $ids; do "cleanup_$client" "$id" >>"$log" 2>&1; done
	fi
	report "$client: $name ($((SECONDS - t0))s)" "$rc" "$log" "$ids"
}

# Inside a scenario:
fail() { echo "FAIL: $*"; exit 1; }
note() { echo "+ $*"; }
track() { echo "$1" >>"$LOGS/$n.ids"; }  # the container ID (the client's ID for docker/podman: full)
# must CMD...: run, log, fail when it fails; its stdout is kept in $LOGS/$n.out.
must() {
	note "$*"
	"$@" >"$LOGS/$n.out" 2>"$LOGS/$n.err"
	local rc=$?
	sed 's/^/  | /' "$LOGS/$n.out" "$LOGS/$n.err"
	[ "$rc" = 0 ] || fail "exit status $rc: $*"
}
out() { cat "$LOGS/$n.out"; }
# expect_rc RC CMD...: run, log, fail unless its exit status is RC.
expect_rc() {
	local want=$1
	shift
	note "$* (expecting exit status $want)"
	"$@" >"$LOGS/$n.out" 2>"$LOGS/$n.err"
	local rc=$?
	sed 's/^/  | /' "$LOGS/$n.out" "$LOGS/$n.err"
	[ "$rc" = "$want" ] || fail "exit status $rc, expected $want: $*"
}
# marker K: a number unique to this scenario; containers run `sleep MARKER` so their processes can be
# found on the host. 317NNNN, or 318NNNN under systemd (see the header).
marker() { echo $((${MARK}0000 + n * 10 + ${1:-0})); }
procs_of() { pgrep -f "^sleep $1\$" | tr '\n' ' '; }
# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}
nprocs_is() { # nprocs_is N MARKER...: exactly N processes run `sleep MARKER` (any of them)
	local want=$1 m count=0
	shift
	for m in "$@"; do count=$((count + $(procs_of "$m" | wc -w))); done
	[ "$count" = "$want" ]
}
no_procs() { # no_procs MARKER...
	local m
	for m in "$@"; do [ -z "$(procs_of "$m")" ] || return 1; done
}
# on_pty CMD: runs the command line CMD on a new pseudo-terminal (for -t), stdout without \r,
# killed after 30 s. Not script(1): what script does depends on the caller's stdin, and it waits
# for every holder of the terminal to close it.
on_pty() { python3 "$here/clients/on-pty.py" 30 "$1"; }

# ------------------------------------------------------------------------------------------------
# What a container leaves behind

# leftovers CLIENT ID MARKER...: one line per thing of the container that still exists.
leftovers() {
	local client=$1 id=$2
	shift 2
	local m p r
	for m in "$@"; do
		for p in $(procs_of "$m"); do
			echo "process $p ($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null) state $(awk '{print $3}' /proc/$p/stat 2>/dev/null))"
		done
	done
	find /sys/fs/cgroup -mindepth 2 -type d -name "*$id*" 2>/dev/null | sed 's/^/cgroup /'
	[ -n "$SYSTEMD" ] && units_of "$id" | awk '$2 != "inactive" { print "unit " $1 " (" $2 "/" $3 ")" }'
	for r in $(rt_roots "$client"); do
		[ -e "$r/$id" ] && echo "runtime state $r/$id"
	done
	case $client in
	ctr | docker)
		local ns=$NS
		[ "$client" = docker ] && ns=moby
		[ -e "$T/containerd/state/io.containerd.runtime.v2.task/$ns/$id" ] &&
			echo "containerd bundle $T/containerd/state/io.containerd.runtime.v2.task/$ns/$id"
		for p in $(pgrep -f "containerd-shim-runc-v2 .*-id $id( |\$)"); do echo "shim $p"; done
		;;
	podman)
		for p in $(pgrep -f "conmon .*$id"); do echo "conmon $p"; done
		;;
	esac
	true
}

# units_of ID: "UNIT ACTIVE SUB" for each unit systemd has loaded whose name contains ID (a unit
# that is inactive is usually garbage-collected at once; it is listed while something refers to it).
units_of() {
	systemctl list-units --all --plain --no-legend --full --no-pager "*$1*" 2>/dev/null |
		awk '{ print $1, $3, $4 }'
}

# The runtime's --root directory each client uses (seen with CLIENTS_TRACE=1):
#   ctr: containerd's shim passes --root <ctr run --runc-root>/<namespace>;
#   docker 20.10: --root <exec-root>/runtime-runc/moby, whatever the runtime's name;
#   podman/conmon: no --root, so the runtime's default (/run/berth, /run/runc).
rt_roots() {
	case $1 in
	ctr) echo "$T/ctr-runc/$NS" ;;
	docker) echo "$T/docker/exec/runtime-runc/moby $T/docker/exec/runtime-$DOCKER_RT/moby" ;;
	podman) echo "/run/$RT_NAME" ;;
	esac
}

# assert_clean CLIENT ID MARKER...: within 10 s nothing of the container is left. The grace is for
# the clients' own asynchronous clean-up (the shim or conmon exiting, dockerd removing its bundle),
# which follows berth's return; berth's own kill/delete are asserted without any grace in bats/ and
# integration/.
assert_clean() {
	local end=$((SECONDS + 10)) left
	while :; do
		left=$(leftovers "$@")
		[ -z "$left" ] && { note "clean: $2"; return 0; }
		[ $SECONDS -lt $end ] || break
		sleep 0.2
	done
	echo "left behind by $2:"
	echo "$left" | sed 's/^/  /'
	fail "container $2 left things behind"
}

# in_scope PID SLICE UNIT: under systemd, PID runs in the cgroup of UNIT (in SLICE), an active unit:
# the runtime used the systemd driver and the path the client asked for. Nothing with cgroupfs.
in_scope() {
	[ -n "$SYSTEMD" ] || return 0
	local pid=${1// /} got state
	got=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
	[ "$got" = "/$2/$3" ] || fail "pid $pid is in the cgroup $got, expected /$2/$3"
	state=$(systemctl is-active "$3")
	[ "$state" = active ] || fail "unit $3 is $state, not active"
	note "pid $pid runs in $3 (active)"
}

# gone_now CLIENT ID MARKER...: under systemd, right after the client's rm -f (ctr: task rm -f)
# returned, without assert_clean's grace: no process of the container, its scope unit neither active
# nor deactivating nor failed, its cgroup removed. The client waits for the runtime's kill and delete,
# which are synchronous, scope included (conmon's own scope may take longer: assert_clean covers it).
# Nothing with cgroupfs.
gone_now() {
	[ -n "$SYSTEMD" ] || return 0
	local cl=$1 id=$2 unit m p left
	shift 2
	case $cl in
	ctr) unit=system.slice/containerd-$id.scope ;;
	docker) unit=system.slice/docker-$id.scope ;;
	podman) unit=machine.slice/libpod-$id.scope ;;
	esac
	left=$(
		for m in "$@"; do
			for p in $(procs_of "$m"); do
				echo "process $p ($(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null) state $(awk '{print $3}' /proc/$p/stat 2>/dev/null))"
			done
		done
		units_of "${unit#*/}" | awk '$2 != "inactive" { print "unit " $1 " (" $2 "/" $3 ")" }'
		[ -d "/sys/fs/cgroup/$unit" ] && echo "cgroup /sys/fs/cgroup/$unit"
	)
	if [ -n "$left" ]; then
		echo "left when $cl rm -f returned:"
		echo "$left" | sed 's/^/  /'
		fail "$cl rm -f returned before $id was gone"
	fi
	note "gone when rm -f returned: $unit"
}

# ------------------------------------------------------------------------------------------------
# Teardown (trap EXIT): bounded, quiet, idempotent.

CTRD_PID='' DOCKERD_PID='' WATCHDOG=''
CREATED_DIRS=()  # host directories this run created (removed at exit when empty)

stop_pid() { # stop_pid PID SECONDS: TERM, then KILL after SECONDS
	local pid=$1 secs=$2 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	sleep 0.2
}

teardown() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -z "$SUMMARY_DONE" ]; then
		# Interrupted or aborted: what did not run counts as one failure.
		n=$((n + 1))
		failed=$((failed + 1))
		echo "not ok $n the run did not finish (exit status $rc)"
		summary
		[ "$rc" = 0 ] && rc=1
	fi
	[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
	set +e
	{
		echo "== teardown $(date +%T)"
		if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
			local ids
			ids=$(timeout 10 "${DOCKERX[@]}" ps -aq 2>/dev/null)
			[ -n "$ids" ] && timeout 30 "${DOCKERX[@]}" rm -f $ids
		fi
		if [ -n "${PODMAN_READY:-}" ]; then
			timeout 30 "${PODMANX[@]}" rm -a -f -t 0
		fi
		if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
			local ns c
			for ns in $NS moby; do
				for c in $(timeout 10 ctr --address "$T/containerd/containerd.sock" -n "$ns" c ls -q 2>/dev/null); do
					timeout 10 ctr --address "$T/containerd/containerd.sock" -n "$ns" task rm -f "$c"
					timeout 10 ctr --address "$T/containerd/containerd.sock" -n "$ns" c rm "$c"
				done
			done
		fi
		stop_pid "$DOCKERD_PID" 15
		stop_pid "$CTRD_PID" 10
		# Whatever still runs from this run: shims, conmons, container processes.
		local p
		# Under systemd: the units of this run's containers (a stopped scope's processes are killed).
		if [ -n "$SYSTEMD" ]; then
			local id u
			for id in $(cat "$LOGS"/*.ids 2>/dev/null | sort -u); do
				for u in $(units_of "$id" | awk '{ print $1 }'); do
					timeout 20 systemctl stop "$u"
					systemctl reset-failed "$u"
				done
			done
		fi
		for p in $(pgrep -f "$T/" ; pgrep -f "^sleep ${MARK}[0-9]{4}\$"); do
			[ "$p" = $$ ] || kill -KILL "$p" 2>/dev/null
		done
		sleep 0.5
		# Mounts under the temporary directory, deepest first.
		local m
		for m in $(awk -v t="$T/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
			umount -l "$m"
		done
		# Processes left in the cgroups this run made, then those cgroups (deepest first).
		local cgs
		cgs=$(new_cgroups)
		for d in $cgs; do
			for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		done
		[ -n "$cgs" ] && sleep 0.5
		for d in $(echo "$cgs" | tr ' ' '\n' | sort -r); do rmdir "$d" 2>/dev/null; done
		local d
		for d in "${CREATED_DIRS[@]}"; do
			case $d in
			*:all) rm -rf "${d%:all}" ;;
			*:empty) [ -d "${d%:empty}" ] && find "${d%:empty}" -depth -type d -empty -delete ;;
			esac
		done
	} >>"$LOGS/teardown.log" 2>&1
	if [ -n "${CLIENTS_KEEP:-}" ]; then
		mkdir -p "$CLIENTS_KEEP" && cp -a "$LOGS/." "$CLIENTS_KEEP/" && echo "# logs kept in $CLIENTS_KEEP"
	fi
	if [ "$CLIENTS_TRACE" = 1 ] && [ -z "${CLIENTS_KEEP:-}" ]; then
		cp "$TRACE" "/tmp/berth-clients-trace.log" && echo "# runtime trace kept in /tmp/berth-clients-trace.log"
	fi
	rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T"; }
	exit "$rc"
}
trap teardown EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# aborted: over ${CLIENTS_TIMEOUT}s (CLIENTS_TIMEOUT)"; exit 124' TERM
# The watchdog: TERM to this script after CLIENTS_TIMEOUT; killed at exit (its sleep with it).
# bash runs the TERM trap only once the command it waits for has ended, so the watchdog then
# kills that command too (the script's children, but for itself).
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$CLIENTS_TIMEOUT" &
	s=$!
	wait "$s" || exit 0
	kill -TERM $$
	for p in $(pgrep -P $$); do
		[ "$p" = "$BASHPID" ] || kill -KILL "$p"
	done
) 2>/dev/null &
WATCHDOG=$!

# Cgroup directories (and their parents) that this run's clients create: docker/, libpod_parent/, $NS/;
# under systemd the scopes docker-ID.scope, libpod-ID.scope, libpod-conmon-ID.scope, containerd-ID.scope.
CGROUPS_BEFORE=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d 2>/dev/null | sort)
new_cgroups() {
	local parents
	parents=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d 2>/dev/null | sort |
		comm -13 <(echo "$CGROUPS_BEFORE") - |
		grep -E "/(docker|libpod_parent|$NS|clx-[^/]*|(docker|libpod|libpod-conmon|containerd)-[^/]*\.scope)\$")
	for d in $parents; do find "$d" -type d; done
}

# remember_dir DIR [all]: if this run creates DIR, it is removed at exit: only its empty directories,
# or all of it with "all".
remember_dir() { [ -e "$1" ] || CREATED_DIRS+=("$1:${2:-empty}"); }
remember_dir /run/containerd all    # the shims' sockets (containerd 1.6 always puts them in /run/containerd/s)
remember_dir /var/lib/containers all # podman's blob-info cache (/var/lib/containers/cache, not configurable)
remember_dir /run/docker
remember_dir /run/berth              # berth's default --root, which podman uses; shared with other users
remember_dir /run/runc
remember_dir /etc/docker
remember_dir /run/containers
remember_dir /run/libpod

# ------------------------------------------------------------------------------------------------
# Packages

install_deps() {
	local need='' pkg
	for pkg in containerd docker.io podman conmon containernetworking-plugins busybox-static runc \
		bsdutils procps util-linux iptables tini python3; do
		dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
	done
	[ -z "$need" ] && return 0
	if [ "${CLIENTS_NO_INSTALL:-0}" = 1 ]; then
		echo "missing packages:$need" >&2
		return 1
	fi
	say "installing$need"
	export DEBIAN_FRONTEND=noninteractive
	# The packages' maintainer scripts would start the daemons: policy-rc.d forbids it while
	# installing (only when the machine has none of its own).
	local policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	local rc=0
	timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >"$LOGS/apt.log" 2>&1 &&
		timeout 400 apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends $need \
			>>"$LOGS/apt.log" 2>&1 || rc=$?
	[ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
	if [ "$rc" != 0 ]; then
		tail -n 20 "$LOGS/apt.log" | sed 's/^/# /'
		return 1
	fi
	return 0
}

# ------------------------------------------------------------------------------------------------
# The runtime, the root filesystem, the daemons

# The clients get a copy of the runtime under its own name (podman chooses by name whether a runtime
# takes --log-format json); a copy, so that a rebuild during the run does not swap the binary.
RT_NAME=$(basename "$RUNTIME_UNDER_TEST")
mkdir -p "$T/bin/real"
cp "$RUNTIME_UNDER_TEST" "$T/bin/real/$RT_NAME"
RT=$T/bin/$RT_NAME
if [ "$CLIENTS_TRACE" = 1 ]; then
	sed -e "s|@REAL@|$T/bin/real/$RT_NAME|" -e "s|@LOG@|$TRACE|" "$here/clients/trace-runtime.sh" >"$RT"
	chmod 755 "$RT"
else
	ln "$T/bin/real/$RT_NAME" "$RT"
fi
# docker reserves the name runc.
DOCKER_RT=clx-$RT_NAME

setup_rootfs() {
	ROOTFS=$T/rootfs
	sh "$repo/scripts/rootfs.sh" "$ROOTFS" || return 1
	tar -C "$ROOTFS" -cf "$T/rootfs.tar" . || return 1
}

CTRX=(ctr --address "$T/containerd/containerd.sock" --namespace "$NS")
c_ctr() { timeout 30 "${CTRX[@]}" "$@"; }

start_containerd() {
	local d=$T/containerd
	mkdir -p "$d"
	cat >"$d/config.toml" <<-EOF
		version = 2
		root = "$d/root"
		state = "$d/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
		  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$d/containerd.sock"
		[ttrpc]
		  address = "$d/containerd.sock.ttrpc"
		[debug]
		  address = "$d/debug.sock"
		  level = "info"
		[metrics]
		  address = ""
		[plugins]
		  [plugins."io.containerd.internal.v1.opt"]
		    path = "$d/opt"
	EOF
	containerd --config "$d/config.toml" >"$LOGS/containerd.log" 2>&1 &
	CTRD_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		timeout 5 ctr --address "$d/containerd.sock" version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$LOGS/containerd.log"
	return 1
}

# The docker client's configuration directory is private too (only docker's: podman reads
# DOCKER_CONFIG for registry credentials and fails when the directory has no config.json).
DOCKERX=(env "DOCKER_CONFIG=$T/docker/client" "$DOCKER_BIN" --host "unix://$T/docker/docker.sock")
c_docker() { timeout 60 "${DOCKERX[@]}" "$@"; }

start_dockerd() {
	local d=$T/docker driver i
	mkdir -p "$d/data" "$d/exec" "$d/client"
	# dockerd 20.10 writes a libtrust key to /etc/docker/key.json unless told otherwise.
	echo "{\"deprecated-key-path\": \"$d/key.json\"}" >"$d/daemon.json"
	for driver in overlay2 vfs; do
		dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
			--host "unix://$d/docker.sock" --pidfile "$d/docker.pid" \
			--containerd "$T/containerd/containerd.sock" \
			--add-runtime "$DOCKER_RT=$RT" \
			--iptables=false --ip6tables=false --ip-masq=false --ip-forward=false --bridge=none \
			--userland-proxy=false --exec-opt "native.cgroupdriver=$CLIENTS_CGROUP_DRIVER" \
			--storage-driver "$driver" >"$LOGS/dockerd.log" 2>&1 &
		DOCKERD_PID=$!
		for ((i = 0; i < 300; i++)); do
			if timeout 5 "${DOCKERX[@]}" version >/dev/null 2>&1; then
				say "dockerd: storage driver $driver"
				return 0
			fi
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.1
		done
		tail -n 20 "$LOGS/dockerd.log"
		stop_pid "$DOCKERD_PID" 10
		DOCKERD_PID=
	done
	return 1
}

setup_docker() {
	start_dockerd || return 1
	c_docker import - "$IMAGE" <"$T/rootfs.tar" >/dev/null || return 1
}

PODMAN_DRIVER=overlay
podman_args() {
	PODMANX=()
	# Under systemd, conmon goes into a scope of its own, libpod-conmon-ID.scope, as from a login
	# shell; but not when podman sees $INVOCATION_ID (it runs in a systemd service, as this script
	# does in the systemd host): hide it.
	[ -n "$SYSTEMD" ] && PODMANX=(env -u INVOCATION_ID)
	PODMANX+=(podman --root "$T/podman/root" --runroot "$T/podman/run" --tmpdir "$T/podman/tmp"
		--runtime "$RT" --cgroup-manager "$CLIENTS_CGROUP_DRIVER" --events-backend file
		--storage-driver "$PODMAN_DRIVER")
}
podman_args
c_podman() { timeout 60 "${PODMANX[@]}" "$@"; }
# podman's default ulimits (nofile 1048576, nproc 1048576) exceed this machine's hard limits, and
# root here lacks CAP_SYS_RESOURCE to raise them: every runtime's setrlimit would fail with EPERM.
PODMAN_RUN=(--network none --ulimit "nofile=1024:1024" --ulimit "nproc=4096:4096")

setup_podman() {
	local d=$T/podman
	mkdir -p "$d/root" "$d/run" "$d/tmp" "$d/net"
	# Without a pids controller, no default pids limit (2048): runc, for one, fails to set it
	# (pids.max: no such file).
	local pids_limit=
	[ -n "$NOCTL" ] && pids_limit='pids_limit = 0'
	cat >"$d/containers.conf" <<-EOF
		[containers]
		log_driver = "k8s-file"
		$pids_limit
		[engine]
		cgroup_manager = "$CLIENTS_CGROUP_DRIVER"
		events_logger = "file"
		events_logfile_path = "$d/events.log"
		runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "$RT_NAME"]
		tmp_dir = "$d/tmp"
		volume_path = "$d/root/volumes"
		[network]
		network_config_dir = "$d/net"
	EOF
	: >"$d/registries.conf"
	export CONTAINERS_CONF=$d/containers.conf
	export CONTAINERS_REGISTRIES_CONF=$d/registries.conf
	local driver
	for driver in overlay vfs; do
		PODMAN_DRIVER=$driver
		podman_args
		cat >"$d/storage.conf" <<-EOF
			[storage]
			driver = "$driver"
			runroot = "$d/run"
			graphroot = "$d/root"
		EOF
		export CONTAINERS_STORAGE_CONF=$d/storage.conf
		if c_podman import "$T/rootfs.tar" "$IMAGE" >"$LOGS/podman-setup.log" 2>&1; then
			say "podman: storage driver $driver"
			PODMAN_READY=1
			return 0
		fi
		tail -n 10 "$LOGS/podman-setup.log"
		c_podman system reset -f >/dev/null 2>&1
		awk -v t="$d/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r umount -l
		rm -rf "$d/root" "$d/run"
		mkdir -p "$d/root" "$d/run"
	done
	return 1
}

# ------------------------------------------------------------------------------------------------
# ctr (containerd's runc shim)

CTR_RUN=() # set in main: --runc-binary, --runc-root, --rootfs (and --runc-systemd-cgroup)
# ctr_cgroup ID: sets CG to ctr run's --cgroup under systemd, which ctr requires with
# --runc-systemd-cgroup (it sets none of its own): the scope containerd-ID.scope in system.slice.
# Empty with cgroupfs (ctr's default, /NAMESPACE/ID).
ctr_cgroup() {
	CG=()
	[ -z "$SYSTEMD" ] || CG=("--cgroup=system.slice:containerd:$1")
}
ctr_field() { c_ctr task ls 2>/dev/null | awk -v id="$1" -v f="$2" '$1 == id { print $f }'; }
ctr_is() { [ "$(ctr_field "$1" 3)" = "$2" ]; }
cleanup_ctr() {
	c_ctr task kill -a -s SIGKILL "$1"
	c_ctr task rm -f "$1"
	c_ctr c rm "$1"
}
# ctr_remove ID: delete the stopped task and the container, as a user would.
ctr_remove() {
	wait_for 10 "task $1 to stop" ctr_is "$1" STOPPED
	must c_ctr task rm "$1"
	must c_ctr c rm "$1"
}
ctr_run_d() { # ctr_run_d ID [--with-ns ...] -- CMD...
	local id=$1 extra=()
	shift
	while [ "$1" != -- ]; do extra+=("$1"); shift; done
	shift
	track "$id"
	ctr_cgroup "$id"
	must c_ctr run -d "${CTR_RUN[@]}" "${CG[@]}" "${extra[@]}" "$ROOTFS" "$id" "$@"
	wait_for 10 "task $id to run" ctr_is "$id" RUNNING
}

ctr_s_run() {
	local id=clx-ctr-$n-run m
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	local pid
	pid=$(ctr_field "$id" 2)
	[ "$(tr '\0' ' ' </proc/$pid/cmdline)" = "sleep $m " ] || fail "task pid $pid is not 'sleep $m'"
	in_scope "$pid" system.slice "containerd-$id.scope"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_exec() {
	local id=clx-ctr-$n-exec m
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	expect_rc 7 c_ctr task exec --fifo-dir "$T/fifo" --exec-id e1 "$id" sh -c 'echo hello-from-exec; exit 7'
	out | grep -qx hello-from-exec || fail "exec output is not hello-from-exec"
	must on_pty "${CTRX[*]} task exec --fifo-dir $T/fifo -t --exec-id e2 $id tty"
	out | grep -q '^/dev/pts/[0-9]' || fail "exec -t: tty printed no /dev/pts/N"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_ps() {
	local id=clx-ctr-$n-ps m
	m=$(marker)
	ctr_run_d "$id" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 10 "two sleeps" nprocs_is 2 "$m"
	must c_ctr task ps "$id"
	local want got
	want=$(echo "$(ctr_field "$id" 2) $(procs_of "$m")" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ')
	got=$(out | awk 'NR > 1 { print $1 }' | sort -n | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "task ps lists '$got', expected '$want'"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

# cg_read ID CONTROLLER FILE: FILE of the container's cgroup in CONTROLLER's v1 hierarchy.
cg_read() { cat "$(find "/sys/fs/cgroup/$2" -type d -name "*$1*" | head -n 1)/$3"; }
# freezer_state ID: FROZEN or THAWED. With cgroup v2 (the systemd host) from cgroup.events of the
# container's own cgroup (not conmon's scope, whose name has the id too).
freezer_state() {
	if [ -z "$CGROUP2" ]; then
		cg_read "$1" freezer freezer.state
		return
	fi
	local d
	d=$(find /sys/fs/cgroup -mindepth 2 -type d -name "*$1*" ! -name '*conmon*' | head -n 1)
	case $(awk '$1 == "frozen" { print $2 }' "$d/cgroup.events") in
	1) echo FROZEN ;;
	0) echo THAWED ;;
	esac
}
# expect_cg ID CONTROLLER FILE VALUE
expect_cg() {
	local got
	got=$(cg_read "$1" "$2" "$3")
	[ "$got" = "$4" ] || fail "$2/$3 is '$got', expected '$4'"
	note "$2/$3 = $4"
}

ctr_s_pause() {
	local id=clx-ctr-$n-pause m
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	must c_ctr task pause "$id"
	ctr_is "$id" PAUSED || fail "task is $(ctr_field "$id" 3), not PAUSED"
	[ "$(freezer_state "$id")" = FROZEN ] || fail "freezer.state is $(freezer_state "$id")"
	must c_ctr task resume "$id"
	ctr_is "$id" RUNNING || fail "task is $(ctr_field "$id" 3), not RUNNING"
	[ "$(freezer_state "$id")" = THAWED ] || fail "freezer.state is $(freezer_state "$id")"
	must c_ctr task exec --fifo-dir "$T/fifo" --exec-id e1 "$id" true
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

# A foreground `ctr run --rm` in the background: its exit status is the task's.
ctr_run_fg() { # ctr_run_fg ID CMD... (sets FG)
	local id=$1
	shift
	track "$id"
	note "ctr run --rm $id $*"
	ctr_cgroup "$id"
	c_ctr run --rm "${CTR_RUN[@]}" "${CG[@]}" "$ROOTFS" "$id" "$@" >"$LOGS/$n.fg" 2>&1 &
	FG=$!
}
fg_wait() { # fg_wait SECONDS: wait for FG, set FG_RC to its exit status
	local end=$((SECONDS + $1))
	while kill -0 "$FG" 2>/dev/null; do
		[ $SECONDS -lt $end ] || fail "client did not return within $1 s"
		sleep 0.1
	done
	wait "$FG"
	FG_RC=$?
	sed 's/^/  fg| /' "$LOGS/$n.fg"
}

ctr_s_term() {
	local id=clx-ctr-$n-term
	ctr_run_fg "$id" sh -c 'trap "echo got-TERM; exit 3" TERM; echo ready; while :; do sleep 1; done'
	wait_for 10 "the container to trap TERM" grep -q ready "$LOGS/$n.fg"
	must c_ctr task kill -s SIGTERM "$id"
	fg_wait 10
	[ "$FG_RC" = 3 ] || fail "ctr run exited $FG_RC, expected 3 (the trap's status)"
	grep -q got-TERM "$LOGS/$n.fg" || fail "the trap did not run"
	assert_clean ctr "$id"
}

ctr_s_kill() {
	local id=clx-ctr-$n-kill m
	m=$(marker)
	ctr_run_fg "$id" sleep "$m"
	wait_for 10 "task $id to run" ctr_is "$id" RUNNING
	must c_ctr task kill -s SIGKILL "$id"
	fg_wait 10
	[ "$FG_RC" = 137 ] || fail "ctr run exited $FG_RC, expected 137"
	assert_clean ctr "$id" "$m"
}

# ctr has no stop: what docker stop does, by hand. sleep as PID 1 ignores TERM.
ctr_s_stop() {
	local id=clx-ctr-$n-stop m
	m=$(marker)
	ctr_run_fg "$id" sleep "$m"
	wait_for 10 "task $id to run" ctr_is "$id" RUNNING
	must c_ctr task kill "$id"
	sleep 2
	ctr_is "$id" RUNNING || fail "PID 1 without a TERM handler died of TERM"
	must c_ctr task kill -s SIGKILL "$id"
	fg_wait 10
	[ "$FG_RC" = 137 ] || fail "ctr run exited $FG_RC, expected 137"
	assert_clean ctr "$id" "$m"
}

ctr_s_rmf() {
	local id=clx-ctr-$n-rmf m m2
	m=$(marker) m2=$(marker 1)
	ctr_run_d "$id" -- sh -c "sleep $m & sleep $m & sleep $m & wait"
	must c_ctr task exec --fifo-dir "$T/fifo" -d --exec-id e1 "$id" sleep "$m2"
	wait_for 10 "four sleeps" nprocs_is 4 "$m" "$m2"
	in_scope "$(procs_of "$m2")" system.slice "containerd-$id.scope"
	must c_ctr task rm -f "$id"
	gone_now ctr "$id" "$m" "$m2"
	must c_ctr c rm "$id"
	assert_clean ctr "$id" "$m" "$m2"
}

# Host PID namespace: ctr has no --pid-host; join this script's PID namespace (the host's: /proc/1/ns
# is not readable here, PID 1 holds a capability this VM's root lacks). When init exits, the shim runs `kill --all ID 9` for the leftovers.
ctr_s_hostpid_exit() {
	local id=clx-ctr-$n-hpid m
	m=$(marker)
	ctr_run_d "$id" --with-ns "pid:/proc/$$/ns/pid" -- sh -c "sleep $m & sleep $m & sleep 2"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	wait_for 10 "init to exit" ctr_is "$id" STOPPED
	wait_for 5 "the leftovers to be killed (kill --all after init's exit)" no_procs "$m"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_hostpid_kill() {
	local id=clx-ctr-$n-hpid m
	m=$(marker)
	ctr_run_d "$id" --with-ns "pid:/proc/$$/ns/pid" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	must c_ctr task kill -a -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_hostpid_rmf() {
	local id=clx-ctr-$n-hpid m
	m=$(marker)
	ctr_run_d "$id" --with-ns "pid:/proc/$$/ns/pid" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	must c_ctr task rm -f "$id"
	gone_now ctr "$id" "$m"
	must c_ctr c rm "$id"
	assert_clean ctr "$id" "$m"
}

# ctr_s_shim_killed [--with-ns pid:PATH]: the shim dies (SIGKILL); containerd cleans up after it
# with `containerd-shim-runc-v2 delete`, which runs the runtime's `delete --force` (containerd 1.6:
# without --systemd-cgroup, whatever the container was created with). With --with-ns, a host-pid
# container, whose leftovers that delete must kill.
ctr_s_shim_killed() {
	local id=clx-ctr-$n-shim m shim
	m=$(marker)
	ctr_run_d "$id" "$@" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	shim=$(pgrep -f "containerd-shim-runc-v2 .*-id $id( |\$)")
	[ -n "$shim" ] || fail "no shim for $id"
	note "kill -KILL $shim (the shim)"
	kill -KILL $shim
	wait_for 10 "containerd to delete the task after its shim's death" sh -c "! ${CTRX[*]} task ls -q | grep -qx $id"
	must c_ctr c rm "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_badexec() {
	local id=clx-ctr-$n-bad exe=no-such-binary-$n
	track "$id"
	note "ctr run --rm $id $exe"
	ctr_cgroup "$id"
	c_ctr run --rm "${CTR_RUN[@]}" "${CG[@]}" "$ROOTFS" "$id" "$exe" >"$LOGS/$n.out" 2>&1
	local rc=$?
	sed 's/^/  | /' "$LOGS/$n.out"
	[ "$rc" != 0 ] || fail "ctr run of a missing executable succeeded"
	grep -q "$exe" "$LOGS/$n.out" || fail "the error does not name $exe"
	grep -Eqi 'not found|no such file' "$LOGS/$n.out" || fail "the error does not say 'not found'"
	c_ctr c rm "$id" >/dev/null 2>&1
	assert_clean ctr "$id"
}

ctr_s_exec_opts() {
	local id=clx-ctr-$n-xopt m
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	must c_ctr task exec --fifo-dir "$T/fifo" --user 65534 --cwd /tmp --exec-id e1 "$id" sh -c 'echo $(id -u) $(pwd)'
	[ "$(out)" = "65534 /tmp" ] || fail "exec printed '$(out)', expected '65534 /tmp'"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_exec_missing() {
	local id=clx-ctr-$n-xbad m exe=no-such-binary-$n
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	note "ctr task exec $id $exe"
	c_ctr task exec --fifo-dir "$T/fifo" --exec-id e1 "$id" "$exe" >"$LOGS/$n.out" 2>&1
	local rc=$?
	sed 's/^/  | /' "$LOGS/$n.out"
	[ "$rc" != 0 ] || fail "exec of a missing executable succeeded"
	grep -q "$exe" "$LOGS/$n.out" || fail "the error does not name $exe"
	grep -Eqi 'not found|no such file' "$LOGS/$n.out" || fail "the error does not say 'not found'"
	must c_ctr task exec --fifo-dir "$T/fifo" --exec-id e2 "$id" true
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

# -t: create gets --console-socket; init's stdin is the pty.
ctr_s_tty() {
	local id=clx-ctr-$n-tty m
	m=$(marker)
	track "$id"
	ctr_cgroup "$id"
	must on_pty "${CTRX[*]} run -d -t ${CTR_RUN[*]} ${CG[*]} $ROOTFS $id sleep $m"
	wait_for 10 "task $id to run" ctr_is "$id" RUNNING
	must c_ctr task exec --fifo-dir "$T/fifo" --exec-id e1 "$id" readlink /proc/1/fd/0
	out | grep -q '^/dev/pts/[0-9]' || fail "init's stdin is $(out), not a pty"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

ctr_s_rmf_paused() {
	local id=clx-ctr-$n-rmfp m
	m=$(marker)
	ctr_run_d "$id" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 10 "two sleeps" nprocs_is 2 "$m"
	must c_ctr task pause "$id"
	must c_ctr task rm -f "$id"
	gone_now ctr "$id" "$m"
	must c_ctr c rm "$id"
	assert_clean ctr "$id" "$m"
}

# A new task for the same container: create with an ID whose previous state was deleted.
ctr_s_restart() {
	local id=clx-ctr-$n-rst m
	m=$(marker)
	ctr_run_d "$id" -- sleep "$m"
	local pid1
	pid1=$(ctr_field "$id" 2)
	must c_ctr task kill -s SIGKILL "$id"
	wait_for 10 "task $id to stop" ctr_is "$id" STOPPED
	must c_ctr task rm "$id"
	must c_ctr task start -d --fifo-dir "$T/fifo" "$id"
	wait_for 10 "task $id to run again" ctr_is "$id" RUNNING
	[ "$(ctr_field "$id" 2)" != "$pid1" ] || fail "same pid after restart"
	must c_ctr task kill -s SIGKILL "$id"
	ctr_remove "$id"
	assert_clean ctr "$id" "$m"
}

suite_ctr() {
	# ctr's spec for a --rootfs container has no environment at all: PATH comes from the image
	# otherwise.
	CTR_RUN=(--runc-binary "$RT" --runc-root "$T/ctr-runc" --fifo-dir "$T/fifo"
		--env PATH=/usr/sbin:/usr/bin:/sbin:/bin --rootfs)
	[ -n "$SYSTEMD" ] && CTR_RUN+=(--runc-systemd-cgroup)
	# Without a cpu controller no cpu shares (ctr's default is 1024): runc, for one, fails to write
	# cpu.weight.
	[ -n "$NOCTL" ] && CTR_RUN+=(--cpu-shares 0)
	scenario ctr "run -d" ctr_s_run
	scenario ctr "exec: output, exit code, -t" ctr_s_exec
	scenario ctr "exec --user --cwd" ctr_s_exec_opts
	scenario ctr "exec of a missing executable: the error names it" ctr_s_exec_missing
	scenario ctr "run -t (console socket)" ctr_s_tty
	scenario ctr "task ps" ctr_s_ps
	scenario ctr "pause/resume" ctr_s_pause
	skip "ctr: update memory" "ctr 1.6 has no update command (docker update takes the same shim path)"
	scenario ctr "kill TERM to a process that traps it" ctr_s_term
	scenario ctr "kill KILL: exit 137" ctr_s_kill
	scenario ctr "stop (TERM ignored by PID 1, then KILL)" ctr_s_stop
	scenario ctr "task rm -f with several processes" ctr_s_rmf
	scenario ctr "task rm -f of a paused task" ctr_s_rmf_paused
	scenario ctr "a second task in the same container (same ID)" ctr_s_restart
	scenario ctr "host pid: leftovers killed when init exits" ctr_s_hostpid_exit
	scenario ctr "host pid: kill -a KILL" ctr_s_hostpid_kill
	scenario ctr "host pid: task rm -f" ctr_s_hostpid_rmf
	scenario ctr "the shim killed: containerd's clean-up deletes the task" ctr_s_shim_killed
	scenario ctr "the shim of a host pid task killed: containerd's clean-up" ctr_s_shim_killed \
		--with-ns "pid:/proc/$$/ns/pid"
	scenario ctr "failing create: missing executable" ctr_s_badexec
}

# ------------------------------------------------------------------------------------------------
# docker (dockerd -> containerd -> containerd-shim-runc-v2) and podman (podman -> conmon -> runtime)
#
# The two CLIs are nearly the same, so each scenario is one function cli_s_* taking the client
# (docker or podman) as its first argument. What differs between them is kept here and in the few
# per-client branches of the scenarios; scenarios only one client has (docker update with
# --pids-limit, podman update) are separate functions.

cleanup_docker() { c_docker rm -f "$1"; }
cleanup_podman() { c_podman rm -f -t 0 "$1"; }
# The options of every `docker run` (PODMAN_RUN, podman's, is above).
DOCKER_RUN=(--runtime "$DOCKER_RT" --network none)
# cli_argv CLIENT: the client's command line, for a command string (on_pty, sh -c).
cli_argv() {
	case $1 in
	docker) echo "${DOCKERX[*]}" ;;
	podman) echo "${PODMANX[*]}" ;;
	esac
}
cli_state() { "c_$1" inspect -f '{{.State.Status}}' "$2" 2>/dev/null; }
cli_is() { [ "$(cli_state "$1" "$2")" = "$3" ]; }
cli_exit() { "c_$1" inspect -f '{{.State.ExitCode}}' "$2"; }
cli_pid() { "c_$1" inspect -f '{{.State.Pid}}' "$2"; }
# cli_in_scope CLIENT PID: under systemd, PID runs in the scope of the container $ID.
cli_in_scope() {
	case $1 in
	docker) in_scope "$2" system.slice "docker-$ID.scope" ;;
	podman) in_scope "$2" machine.slice "libpod-$ID.scope" ;;
	esac
}
# cli_run CLIENT NAME [run flags...] -- CMD...: sets ID to the container's full id
cli_run() {
	local cl=$1 name=$2 flags=()
	shift 2
	local -n opts=${cl^^}_RUN
	while [ "$1" != -- ]; do flags+=("$1"); shift; done
	shift
	must "c_$cl" run -d "${opts[@]}" --name "$name" "${flags[@]}" "$IMAGE" "$@"
	ID=$(out | tail -n 1)
	[ -n "$ID" ] || fail "$cl run printed no id"
	track "$ID"
	wait_for 10 "$name to run" cli_is "$cl" "$ID" running
}
# cli_remove CLIENT ID: rm of a stopped container
cli_remove() {
	must "c_$1" rm "$2"
}
# cli_rmf CLIENT ID: rm -f (podman's without a grace period for its stop)
cli_rmf() {
	case $1 in
	docker) must c_docker rm -f "$2" ;;
	podman) must c_podman rm -f -t 0 "$2" ;;
	esac
}
# cli_run_missing CLIENT: a foreground run of a missing executable, in clx-CLIENT-N; sets RC to the
# client's exit status and ID to the container's id (empty when there is no container); the client's
# output is in $LOGS/$n.out.
cli_run_missing() {
	local cl=$1 name=clx-$1-$n exe=no-such-binary-$n
	local -n opts=${cl^^}_RUN
	note "$cl run --name $name $IMAGE $exe"
	"c_$cl" run "${opts[@]}" --name "$name" "$IMAGE" "$exe" >"$LOGS/$n.out" 2>&1
	RC=$?
	sed 's/^/  | /' "$LOGS/$n.out"
	ID=$("c_$cl" inspect -f '{{.Id}}' "$name" 2>/dev/null)
	[ -n "$ID" ] && track "$ID"
}

cli_s_run() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	local pid
	pid=$(cli_pid "$cl" "$ID")
	[ "$(tr '\0' ' ' </proc/$pid/cmdline)" = "sleep $m " ] || fail "container pid $pid is not 'sleep $m'"
	cli_in_scope "$cl" "$pid"
	[ -n "$SYSTEMD" ] && note "units: $(units_of "$ID" | tr '\n' ';')"
	if [ "$cl" = podman ]; then
		# --sync asks the runtime: `state ID`.
		must c_podman ps --sync --no-trunc --filter "id=$ID" --format '{{.ID}} {{.Status}}'
		out | grep -q "^$ID Up" || fail "podman ps --sync shows '$(out)'"
	fi
	cli_rmf "$cl" "$ID"
	gone_now "$cl" "$ID" "$m"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_exec() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	expect_rc 7 "c_$cl" exec "$ID" sh -c 'echo hello-from-exec; exit 7'
	out | grep -qx hello-from-exec || fail "exec output is not hello-from-exec"
	must on_pty "$(cli_argv "$cl") exec -t $ID tty"
	out | grep -q '^/dev/pts/[0-9]' || fail "exec -t: tty printed no /dev/pts/N"
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_top() {
	local cl=$1 m pat
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 10 "two sleeps" nprocs_is 2 "$m"
	must "c_$cl" top "$ID"
	case $cl in
	docker) pat=" sleep $m *\$" ;;
	podman) pat="sleep $m *\$" ;;
	esac
	[ "$(out | grep -cE "$pat")" = 2 ] || fail "$cl top does not list both sleeps"
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_pause() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	must "c_$cl" pause "$ID"
	cli_is "$cl" "$ID" paused || fail "container is $(cli_state "$cl" "$ID"), not paused"
	[ "$(freezer_state "$ID")" = FROZEN ] || fail "freezer.state is $(freezer_state "$ID")"
	must "c_$cl" unpause "$ID"
	cli_is "$cl" "$ID" running || fail "container is $(cli_state "$cl" "$ID"), not running"
	[ "$(freezer_state "$ID")" = THAWED ] || fail "freezer.state is $(freezer_state "$ID")"
	must "c_$cl" exec "$ID" true
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

docker_s_update() {
	local m
	m=$(marker)
	cli_run docker "clx-docker-$n" -- sleep "$m"
	must c_docker update --memory 64m --memory-swap 128m "$ID"
	expect_cg "$ID" memory memory.limit_in_bytes 67108864
	must c_docker update --cpu-shares 512 --pids-limit 50 "$ID"
	expect_cg "$ID" cpu cpu.shares 512
	expect_cg "$ID" pids pids.max 50
	expect_cg "$ID" memory memory.limit_in_bytes 67108864
	cli_rmf docker "$ID"
	assert_clean docker "$ID" "$m"
}

podman_s_update() {
	local m
	m=$(marker)
	cli_run podman "clx-podman-$n" -- sleep "$m"
	must c_podman update --memory 64m "$ID"
	expect_cg "libpod-$ID" memory memory.limit_in_bytes 67108864
	must c_podman update --cpu-shares 512 "$ID"
	expect_cg "libpod-$ID" cpu cpu.shares 512
	cli_rmf podman "$ID"
	assert_clean podman "$ID" "$m"
}

cli_s_term() {
	local cl=$1
	cli_run "$cl" "clx-$cl-$n" -- sh -c 'trap "echo got-TERM; exit 3" TERM; echo ready; while :; do sleep 1; done'
	wait_for 10 "the container to trap TERM" sh -c "$(cli_argv "$cl") logs $ID 2>&1 | grep -q ready"
	must "c_$cl" kill -s TERM "$ID"
	must "c_$cl" wait "$ID"
	[ "$(out)" = 3 ] || fail "exit status $(out), expected 3 (the trap's)"
	must "c_$cl" logs "$ID"
	out | grep -q got-TERM || fail "the trap did not run"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID"
}

cli_s_kill() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	must "c_$cl" kill "$ID"
	must "c_$cl" wait "$ID"
	[ "$(out)" = 137 ] || fail "exit status $(out), expected 137"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_stop() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	must "c_$cl" stop -t 2 "$ID"
	[ "$(cli_exit "$cl" "$ID")" = 137 ] || fail "exit status $(cli_exit "$cl" "$ID"), expected 137"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_rmf() {
	local cl=$1 m m2
	m=$(marker) m2=$(marker 1)
	cli_run "$cl" "clx-$cl-$n" -- sh -c "sleep $m & sleep $m & sleep $m & wait"
	must "c_$cl" exec -d "$ID" sleep "$m2"
	wait_for 10 "four sleeps" nprocs_is 4 "$m" "$m2"
	cli_in_scope "$cl" "$(procs_of "$m2")"
	cli_rmf "$cl" "$ID"
	gone_now "$cl" "$ID" "$m" "$m2"
	assert_clean "$cl" "$ID" "$m" "$m2"
}

# Who kills the leftovers after init's exit: for docker the shim (`kill --all`); for podman its
# cleanup (conmon's exit command), which runs `delete --force`.
cli_s_hostpid_exit() {
	local cl=$1 m how=
	m=$(marker)
	[ "$cl" = docker ] && how=" (kill --all after init's exit)"
	cli_run "$cl" "clx-$cl-$n" --pid host -- sh -c "sleep $m & sleep $m & sleep 2"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	wait_for 10 "init to exit" cli_is "$cl" "$ID" exited
	wait_for 5 "the leftovers to be killed$how" no_procs "$m"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_hostpid_rmf() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" --pid host -- sh -c "sleep $m & sleep $m & wait"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	cli_rmf "$cl" "$ID"
	gone_now "$cl" "$ID" "$m"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_hostpid_stop() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" --pid host -- sh -c "sleep $m & sleep $m & wait"
	wait_for 5 "two sleeps" nprocs_is 2 "$m"
	must "c_$cl" stop -t 2 "$ID"
	wait_for 5 "the leftovers to be killed" no_procs "$m"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_badexec() {
	local cl=$1 exe=no-such-binary-$n
	cli_run_missing "$cl"
	[ "$RC" != 0 ] || fail "$cl run of a missing executable succeeded"
	grep -q "$exe" "$LOGS/$n.out" || fail "the error does not name $exe"
	grep -Eqi 'not found|no such file' "$LOGS/$n.out" || fail "the error does not say 'not found'"
	[ -n "$ID" ] || fail "no container clx-$cl-$n"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID"
}

cli_s_exec_opts() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	must "c_$cl" exec -u 65534 -w /tmp -e FOO=bar "$ID" sh -c 'echo $(id -u) $(pwd) $FOO'
	[ "$(out)" = "65534 /tmp bar" ] || fail "exec printed '$(out)', expected '65534 /tmp bar'"
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_exec_missing() {
	local cl=$1 m exe=no-such-binary-$n
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	note "$cl exec $ID $exe"
	"c_$cl" exec "$ID" "$exe" >"$LOGS/$n.out" 2>&1
	local rc=$?
	sed 's/^/  | /' "$LOGS/$n.out"
	echo "$rc" >"$LOGS/$n.rc"
	[ "$rc" != 0 ] || fail "exec of a missing executable succeeded"
	grep -q "$exe" "$LOGS/$n.out" || fail "the error does not name $exe"
	grep -Eqi 'not found|no such file' "$LOGS/$n.out" || fail "the error does not say 'not found'"
	case $cl in
	# docker 20.10 exits 126 for any exec that fails to start (with runc too).
	docker) [ "$rc" = 126 ] || fail "exit status $rc, expected 126" ;;
	podman) [ "$rc" = 127 ] || fail "exit status $rc, expected 127 (podman maps 'executable file not found' and 'no such file or directory' to 127)" ;;
	esac
	must "c_$cl" exec "$ID" true
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

# -t: create gets --console-socket; init's stdin is the pty.
cli_s_tty() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -t -- sleep "$m"
	must "c_$cl" exec "$ID" readlink /proc/1/fd/0
	out | grep -q '^/dev/pts/[0-9]' || fail "init's stdin is $(out), not a pty"
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

cli_s_rmf_paused() {
	local cl=$1 m
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sh -c "sleep $m & sleep $m & wait"
	wait_for 10 "two sleeps" nprocs_is 2 "$m"
	must "c_$cl" pause "$ID"
	cli_is "$cl" "$ID" paused || fail "not paused"
	cli_rmf "$cl" "$ID"
	gone_now "$cl" "$ID" "$m"
	assert_clean "$cl" "$ID" "$m"
}

# The exit status the client gives a missing executable: 127 (it maps runc's 'executable file not
# found' and 'no such file or directory' to it; anything else is 126 or 125).
cli_s_badexec_status() {
	local cl=$1
	cli_run_missing "$cl"
	[ "$RC" = 127 ] || fail "exit status $RC, expected 127"
	cli_remove "$cl" "$ID"
	assert_clean "$cl" "$ID"
}

# restart: the same container ID is deleted and created again.
cli_s_restart() {
	local cl=$1 m pid1
	m=$(marker)
	cli_run "$cl" "clx-$cl-$n" -- sleep "$m"
	pid1=$(cli_pid "$cl" "$ID")
	must "c_$cl" restart -t 1 "$ID"
	wait_for 10 "the container to run again" cli_is "$cl" "$ID" running
	[ "$(cli_pid "$cl" "$ID")" != "$pid1" ] || fail "same pid after restart"
	nprocs_is 1 "$m" || fail "$(procs_of "$m" | wc -w) processes run sleep $m, expected 1"
	cli_rmf "$cl" "$ID"
	assert_clean "$cl" "$ID" "$m"
}

# suite_cli CLIENT: the docker or the podman scenarios.
suite_cli() {
	local cl=$1 xrc update
	case $cl in
	docker) xrc=126 update="update --memory, --cpu-shares, --pids-limit" ;;
	podman) xrc=127 update="update --memory, --cpu-shares" ;;
	esac
	scenario "$cl" "run -d" cli_s_run "$cl"
	scenario "$cl" "exec: output, exit code, -t" cli_s_exec "$cl"
	scenario "$cl" "exec -u -w -e" cli_s_exec_opts "$cl"
	scenario "$cl" "exec of a missing executable: the error names it, exit $xrc" cli_s_exec_missing "$cl"
	scenario "$cl" "run -t (console socket)" cli_s_tty "$cl"
	scenario "$cl" "top" cli_s_top "$cl"
	scenario "$cl" "pause/unpause" cli_s_pause "$cl"
	if [ -n "$NOCTL" ]; then
		skip "$cl: $update" "no cpu, memory or pids controller in the cgroup2 tree (the systemd host)"
	elif [ -n "$CGROUP2" ]; then
		skip "$cl: $update" "the checks read cgroup v1 files"
	else
		scenario "$cl" "$update" "${cl}_s_update"
	fi
	scenario "$cl" "kill -s TERM to a process that traps it" cli_s_term "$cl"
	scenario "$cl" "kill: exit 137" cli_s_kill "$cl"
	scenario "$cl" "stop -t 2 (TERM ignored by PID 1, then KILL)" cli_s_stop "$cl"
	scenario "$cl" "rm -f with several processes" cli_s_rmf "$cl"
	scenario "$cl" "rm -f of a paused container" cli_s_rmf_paused "$cl"
	scenario "$cl" "restart (the same ID created again)" cli_s_restart "$cl"
	scenario "$cl" "--pid host: leftovers killed when init exits" cli_s_hostpid_exit "$cl"
	scenario "$cl" "--pid host: rm -f" cli_s_hostpid_rmf "$cl"
	scenario "$cl" "--pid host: stop" cli_s_hostpid_stop "$cl"
	scenario "$cl" "failing create: missing executable" cli_s_badexec "$cl"
	scenario "$cl" "failing create: exit status 127" cli_s_badexec_status "$cl"
}

# ------------------------------------------------------------------------------------------------
# main

say "runtime under test: $RUNTIME_UNDER_TEST ($("$RUNTIME_UNDER_TEST" --version 2>/dev/null | head -n 1))"
say "work directory $T"
n=1
install_deps || { failed=1; echo "not ok 1 install containerd, docker.io, podman"; summary; exit 1; }
setup_rootfs || { failed=1; echo "not ok 1 busybox rootfs"; summary; exit 1; }
n=0

# setup NAME CMD...: a set-up step that counts as a test; its failure skips the client's scenarios.
setup() {
	local name=$1
	shift
	n=$((n + 1))
	local log=$LOGS/$n.log
	"$@" >"$log" 2>&1
	local rc=$?
	report "$name" "$rc" "$log"
	return "$rc"
}

need_ctrd=
case " $CLIENTS " in *" ctr "* | *" docker "*) need_ctrd=1 ;; esac
ctrd_ok=
[ -n "$need_ctrd" ] && setup "start containerd" start_containerd && ctrd_ok=1
for client in $CLIENTS; do
	case $client in
	ctr) [ -n "$ctrd_ok" ] && suite_ctr ;;
	docker) [ -n "$ctrd_ok" ] && setup "start dockerd, import the image" setup_docker && suite_cli docker ;;
	podman) setup "podman: import the image" setup_podman && suite_cli podman ;;
	*) echo "unknown client $client" >&2 ;;
	esac
done

summary
[ "$failed" = 0 ]
