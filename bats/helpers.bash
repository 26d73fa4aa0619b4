# Shared helpers for berth's bats suite.
#
# The suite runs against any runc-compatible runtime:
#   bats bats/                                   # berth, from $REPO/target/debug/berth
#   RUNTIME=/usr/sbin/runc bats bats/            # runc (the synchronous-teardown tests fail there)
#   /work/shared/cgroup-view v2 -- bats bats/    # another cgroup layout (v2, legacy, native)
#   BT_TIMEOUT=5 bats bats/                      # end a hung runtime command sooner (default 20 s)
#   BT_CGROUP_DRIVER=systemd bats bats/          # --systemd-cgroup, on a systemd host (scripts/systemd-host)
#
# Every test gets a private directory $BT_DIR holding the state root ($ROOT, passed as --root), the bundle
# ($BUNDLE, root.path pointing at the shared read-only busybox rootfs) and $SHARED (in the bundle),
# bind-mounted read-write at /tmp inside the container: fifos there let a test wait for a container to
# be ready without polling. teardown() deletes every container the test made (ids recorded by
# new_id), kills and removes whatever the runtime left behind, and removes $BT_DIR, pass or fail.
#
# Nothing here sleeps or polls after a kill or a delete: berth's kill KILL and delete -f are synchronous,
# and the tests check the result right after the command returns. await_exit waits for processes the
# test itself killed (or that exit on their own), event driven through pidfds.

bats_require_minimum_version 1.5.0

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIME=${RUNTIME:-$REPO/target/debug/berth}
ROOTFS=${BT_ROOTFS:-$REPO/target/rootfs}
CGROUP_ROOT=/sys/fs/cgroup
BT_TIMEOUT=${BT_TIMEOUT:-20}
# The runtime's global flags: --systemd-cgroup makes every container a scope unit of systemd's.
RT_GLOBAL=()
[ "${BT_CGROUP_DRIVER:-cgroupfs}" != systemd ] || RT_GLOBAL=(--systemd-cgroup)

# ---------------------------------------------------------------------------------------------------
# Set-up and tear-down

bt_setup_file() {
	local missing=
	command -v jq >/dev/null || missing="$missing jq"
	command -v perl >/dev/null || missing="$missing perl"
	if [ -n "$missing" ]; then
		echo "the bats suite needs:$missing (apt-get install$missing)" >&2
		return 1
	fi
	if [ ! -x "$RUNTIME" ]; then
		echo "runtime $RUNTIME not found: build it (cargo build) or set RUNTIME=/path/to/runc" >&2
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "the bats suite needs root" >&2
		return 1
	fi
	"$REPO/scripts/rootfs.sh" "$ROOTFS"
}

bt_setup() {
	BT_DIR=$(mktemp -d /tmp/bt.XXXXXX)
	ROOT=$BT_DIR/root
	BT_IDS=$BT_DIR/ids
	: >"$BT_IDS"
	FG_PID=
	new_bundle bundle
}

bt_teardown() {
	[ -n "${BT_DIR:-}" ] && [ -d "$BT_DIR" ] || return 0
	local id
	while read -r id; do
		[ -n "$id" ] || continue
		rt delete -f "$id" </dev/null >/dev/null 2>"$BT_DIR/teardown.err" ||
			echo "teardown: delete -f $id failed: $(cat "$BT_DIR/teardown.err")" >&2
	done <"$BT_IDS"
	if [ -n "${FG_PID:-}" ]; then
		kill -9 "$FG_PID" 2>/dev/null || true
		wait "$FG_PID" 2>/dev/null || true
	fi
	while read -r id; do
		[ -n "$id" ] && reap_leftovers "$id"
	done <"$BT_IDS"
	rm -rf "$BT_DIR"
}

setup_file() { bt_setup_file; }
setup() { bt_setup; }
teardown() { bt_teardown; }

# Safety net, for runtimes that leave things behind (runc after a failed test, for one): kill what is
# left in the container's cgroups and in the pid snapshots, remove the cgroups, depth first.
reap_leftovers() {
	local id=$1 tops dirs pids round p s
	tops=$(list_cgroups "$id")
	# Every cgroup directory of the container, sub-cgroups included, deepest first.
	dirs=$(for d in $tops; do find "$d" -depth -type d; done)
	for round in 1 2 3 4 5 6 7 8 9 10; do
		pids=
		if [ -f "$BT_DIR/snap.$id" ]; then
			while read -r p s; do
				pid_alive "$p" "$s" && pids="$pids $p" || true
			done <"$BT_DIR/snap.$id"
		fi
		for d in $tops; do pids="$pids $(cgroup_procs "$d")"; done
		pids=$(printf "%s\n" $pids | sort -un | tr "\n" " ")
		pids=${pids% }
		[ -n "$pids" ] || break
		echo "teardown: $id: killing leftover processes: $pids" >&2
		for d in $dirs; do thaw_cgroup "$d"; done
		kill -9 $pids 2>/dev/null || true
		await_exit 5 $pids >/dev/null || true
	done
	[ -n "$dirs" ] || return 0
	echo "teardown: $id: removing leftover cgroups:" $tops >&2
	for d in $dirs; do rmdir "$d" 2>/dev/null || echo "teardown: cannot remove $d" >&2; done
}

thaw_cgroup() {
	[ -d "$1" ] || return 0
	if [ -f "$1/freezer.state" ]; then echo THAWED >"$1/freezer.state" 2>/dev/null || true; fi
	if [ -f "$1/cgroup.freeze" ]; then echo 0 >"$1/cgroup.freeze" 2>/dev/null || true; fi
}

# ---------------------------------------------------------------------------------------------------
# The runtime

# rt ARGS...: the runtime with the test's private state root. fd 3 (bats' own) is never inherited. A
# runtime command that hangs is ended after $BT_TIMEOUT seconds (exit 124): a failed test, not a hung suite.
rt() {
	timeout -k 5 "$BT_TIMEOUT" "$RUNTIME" --root "$ROOT" "${RT_GLOBAL[@]}" "$@" 3>&-
}

# rt_quiet ARGS...: like bats' run, but stdin is /dev/null and stdout/stderr go to files: a detached
# container (run -d, create, exec -d) keeps the runtime's stdio, and a pipe would keep bats waiting.
# Sets status, output (stdout), stderr and lines; never fails by itself.
rt_quiet() {
	status=0
	rt "$@" </dev/null >"$BT_DIR/rt.out" 2>"$BT_DIR/rt.err" || status=$?
	output=$(cat "$BT_DIR/rt.out")
	stderr=$(cat "$BT_DIR/rt.err")
	mapfile -t lines <"$BT_DIR/rt.out"
	mapfile -t stderr_lines <"$BT_DIR/rt.err"
}

# must ARGS...: rt_quiet, and fail the test with the runtime's stderr unless it exits 0.
must() {
	rt_quiet "$@"
	if [ "$status" -ne 0 ]; then
		echo "FAILED (exit $status): $RUNTIME --root $ROOT $*" >&2
		[ "$status" -ne 124 ] || echo "(timed out after $BT_TIMEOUT s: hung?)" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
}

is_berth() {
	timeout -k 5 "$BT_TIMEOUT" "$RUNTIME" --version 2>/dev/null | head -n 1 | grep -q '^berth version '
}

# new_id [LETTER]: sets ID to a fresh container id, recorded for teardown. The id starts with "bt-" and
# ends with "-LETTER", so that a substring match of it (cgroup names) cannot hit another test's id.
new_id() {
	ID="bt-$BATS_TEST_NUMBER-$$-${1:-a}"
	echo "$ID" >>"$BT_IDS"
}

# run_detached ID [run flags]: `run -d` with the current bundle; returns once the container runs.
run_detached() {
	local id=$1
	shift
	must run -d --bundle "$BUNDLE" "$@" "$id"
}

# create_container ID [create flags]
create_container() {
	local id=$1
	shift
	must create --bundle "$BUNDLE" "$@" "$id"
}

# fg_start ID: `run ID` in the foreground, as a background job of the test (FG_PID); fg_wait sets status
# to its exit status, or fails if it has not exited within 10 s (a signal the runtime never delivered).
fg_start() {
	"$RUNTIME" --root "$ROOT" "${RT_GLOBAL[@]}" run --bundle "$BUNDLE" "$1" \
		</dev/null >"$BT_DIR/fg.out" 2>"$BT_DIR/fg.err" 3>&- &
	FG_PID=$!
}
fg_wait() {
	if ! await_exit 10 "$FG_PID" >/dev/null; then
		echo "the foreground run did not exit within 10 s" >&2
		return 1
	fi
	status=0
	wait "$FG_PID" || status=$?
	FG_PID=
	output=$(cat "$BT_DIR/fg.out")
	stderr=$(cat "$BT_DIR/fg.err")
}

# ---------------------------------------------------------------------------------------------------
# Bundles

# new_bundle NAME: a bundle in $BT_DIR/NAME made by `$RUNTIME spec`, with terminal false, args
# ["sleep","1000"], root.path set to the shared (read-only) rootfs, and $SHARED (= $BUNDLE/shared)
# bind-mounted at /tmp.
new_bundle() {
	BUNDLE=$BT_DIR/$1
	SHARED=$BUNDLE/shared
	mkdir -p "$BUNDLE" "$SHARED"
	(cd "$BUNDLE" && timeout -k 5 "$BT_TIMEOUT" "$RUNTIME" spec 3>&-) || {
		echo "$RUNTIME spec failed" >&2
		return 1
	}
	cfg --arg shared "$SHARED" --arg rootfs "$ROOTFS" '.process.terminal = false
		| .root.path = $rootfs
		| .mounts += [{destination: "/tmp", type: "bind", source: $shared, options: ["rbind", "rw"]}]'
	set_args sleep 1000
}

# cfg [jq options] FILTER: edit the current bundle's config.json in place.
cfg() {
	local f=$BUNDLE/config.json
	jq "$@" "$f" >"$f.tmp" && mv "$f.tmp" "$f"
}

# json_array ARGS...: the arguments as a JSON array of strings (jq 1.6 has no safe --args for "-c").
json_array() {
	local i=0 a=()
	for x in "$@"; do
		a+=(--arg "$(printf 'a%03d' "$i")" "$x")
		i=$((i + 1))
	done
	jq -nc "${a[@]}" '[$ARGS.named | to_entries | sort_by(.key)[] | .value]'
}

set_args() {
	cfg --argjson args "$(json_array "$@")" '.process.args = $args'
}

# set_script SCRIPT: the container runs `sh -c SCRIPT`.
set_script() {
	set_args sh -c "$1"
}

remove_ns() {
	cfg --arg t "$1" '.linux.namespaces |= map(select(.type != $t))'
}

add_ns() {
	cfg --arg t "$1" '.linux.namespaces |= (map(select(.type != $t)) + [{type: $t}])'
}

# make_fifo NAME: a fifo $SHARED/NAME, seen as /tmp/NAME in the container.
make_fifo() {
	mkfifo "$SHARED/$1"
}

# await_fifo NAME: read one line from the fifo /tmp/NAME that the container writes to; blocks until the
# container opens it (10 s at most) and prints what was written.
await_fifo() {
	local out
	out=$(timeout 10 cat "$SHARED/$1") || {
		echo "nothing written to /tmp/$1 within 10 s" >&2
		return 1
	}
	echo "$out"
}

# ---------------------------------------------------------------------------------------------------
# State

state_field() { # state_field ID FIELD
	local s
	s=$(rt state "$1" 2>/dev/null) || return 1
	jq -r --arg f "$2" '.[$f]' <<<"$s"
}

init_pid() {
	state_field "$1" pid
}

assert_status() { # assert_status ID STATUS
	local s
	s=$(state_field "$1" status) || {
		echo "state $1 failed" >&2
		return 1
	}
	if [ "$s" != "$2" ]; then
		echo "container $1: status is '$s', expected '$2'" >&2
		return 1
	fi
}

# ---------------------------------------------------------------------------------------------------
# Processes

# read_stat PID: sets STAT to the fields of /proc/PID/stat after the command name (STAT[0] is the state
# letter, STAT[19] the start time); fails when there is no such process. No subshell: it runs per pid.
read_stat() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	STAT=(${line##*) }) # numbers and a state letter: safe to split unquoted
}

# proc_state PID: the state letter from /proc/PID/stat, nothing if there is no such process.
proc_state() {
	read_stat "$1" && echo "${STAT[0]}" || true
}

# pid_alive PID [STARTTIME]: true when PID runs (a zombie, state Z or X, counts as gone) and, when
# STARTTIME is given, is still the same process (not a reused pid).
pid_alive() {
	read_stat "$1" || return 1
	case "${STAT[0]}" in Z | X) return 1 ;; esac
	[ -z "${2:-}" ] || [ "${STAT[19]}" = "$2" ]
}

describe_pid() {
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || true
	echo "pid $1 state $(proc_state "$1") wchan $(cat "/proc/$1/wchan" 2>/dev/null) cmd: $cmd"
}

# await_exit TIMEOUT PID...: wait, event driven (pidfd + poll), until every PID has exited (a zombie
# has); prints those still running at the deadline and fails if there are any. Used only for processes
# the test killed itself or that exit on their own, never to wait for the runtime's kill or delete.
await_exit() {
	local timeout=$1
	shift
	[ $# -gt 0 ] || return 0
	perl -MIO::Poll=POLLIN -MTime::HiRes=time -e '
		my $timeout = shift; my $poll = IO::Poll->new; my %pid;
		for my $p (@ARGV) {
			my $fd = syscall(434, $p + 0, 0);    # pidfd_open
			if ($fd < 0) { next if $!{ESRCH}; die "pidfd_open $p: $!\n" }
			open(my $fh, "<&=", $fd) or die "fdopen: $!\n";
			$pid{$fh} = $p; $poll->mask($fh => POLLIN);
		}
		my $deadline = time + $timeout;
		while ($poll->handles) {
			my $left = $deadline - time; last if $left <= 0;
			$poll->poll($left);
			for my $fh ($poll->handles(POLLIN)) { $poll->remove($fh); delete $pid{$fh} }
		}
		my @left = sort values %pid; print "@left\n" if @left; exit(@left ? 1 : 0);
	' "$timeout" "$@"
}

# ---------------------------------------------------------------------------------------------------
# Cgroups

# The layout (v2, hybrid v1 + cgroup2, legacy v1) is read from what is mounted, not assumed: a process's
# /proc/PID/cgroup names every hierarchy of the kernel, and only those mounted here (cgroup-view hides
# some) are looked at.

# cgroup_mountpoint KEY: where the hierarchy is mounted; KEY is a v1 controller (pids, freezer, memory,
# name=systemd) or "" for cgroup2. Only mounts of a hierarchy's root count.
cgroup_mountpoint() {
	awk -v key="$1" '{
		for (i = 7; $i != "-"; i++) ;
		fs = $(i + 1); if ($4 != "/") next
		if (key == "" && fs == "cgroup2") { print $5; exit }
		if (key != "" && fs == "cgroup") {
			n = split($(i + 3), o, ",")
			for (j = 1; j <= n; j++) if (o[j] == key) { print $5; exit }
		}
	}' /proc/self/mountinfo
}

# cgroup_entries PID: "CONTROLLERS DIR" for each hierarchy of the process mounted here, CONTROLLERS
# being "-" for cgroup2 and DIR the process's cgroup directory in that hierarchy.
cgroup_entries() {
	local line ctrls path mnt
	while IFS= read -r line; do
		# ID:CONTROLLERS:PATH, and PATH may hold colons itself (":youki:ID").
		ctrls=${line#*:}
		path=${ctrls#*:}
		ctrls=${ctrls%%:*}
		mnt=$(cgroup_mountpoint "${ctrls%%,*}")
		[ -z "$mnt" ] || echo "${ctrls:--} $mnt$path"
	done <"/proc/$1/cgroup"
}

# pid_cgroups PID: the process's cgroup directory in every hierarchy mounted here, one a line.
pid_cgroups() {
	cgroup_entries "$1" | cut -d' ' -f2-
}

# pid_cgroup PID: the process's cgroup directory in one hierarchy that holds every process: the v1
# pids, freezer or memory controller, else cgroup2 (alone in the v2 layout).
pid_cgroup() {
	local entries key ctrls dir
	entries=$(cgroup_entries "$1")
	for key in pids freezer memory -; do
		while read -r ctrls dir; do
			case ",$ctrls," in *",$key,"*)
				echo "$dir"
				return 0
				;;
			esac
		done <<<"$entries"
	done
	return 1
}

# container_cgroup ID: the container's cgroup directory (see pid_cgroup), found through its init and
# remembered, so that it can still be named once init is gone.
container_cgroup() {
	local f=$BT_DIR/cg.$1 pid dir
	if [ ! -s "$f" ]; then
		pid=$(init_pid "$1") && [ "$pid" -gt 0 ] || {
			echo "container_cgroup $1: no init pid" >&2
			return 1
		}
		dir=$(pid_cgroup "$pid")
		[ -d "$dir" ] || {
			echo "container_cgroup $1: no cgroup directory for pid $pid" >&2
			return 1
		}
		echo "$dir" >"$f"
	fi
	cat "$f"
}

# cgroup_procs DIR: every process in DIR and its sub-cgroups, one pid a line.
cgroup_procs() {
	[ -d "$1" ] || return 0
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

# container_procs ID: the processes in the container's cgroup, recursively.
container_procs() {
	local dir
	dir=$(container_cgroup "$1") || return 1
	cgroup_procs "$dir"
}

# snapshot_pids ID: record "pid starttime" for every process of the container (in $BT_DIR/snap.ID) and
# print how many there are.
snapshot_pids() {
	local f=$BT_DIR/snap.$1 p
	container_procs "$1" >"$f.pids" || return 1
	while read -r p; do
		read_stat "$p" && echo "$p ${STAT[19]}" || true
	done <"$f.pids" >"$f"
	rm -f "$f.pids"
	wc -l <"$f"
}

snapshot_list() {
	cut -d' ' -f1 "$BT_DIR/snap.$1"
}

# assert_snapshot_gone ID: every snapshotted process has exited (zombies count as gone).
assert_snapshot_gone() {
	local p s left=0
	while read -r p s; do
		if pid_alive "$p" "$s"; then
			echo "still alive: $(describe_pid "$p")" >&2
			left=$((left + 1))
		fi
	done <"$BT_DIR/snap.$1"
	[ "$left" -eq 0 ] || {
		echo "$left of $(wc -l <"$BT_DIR/snap.$1") processes of $1 still alive" >&2
		return 1
	}
}

# assert_cgroup_empty ID: no process left in the container's cgroup (recursively), if it still exists.
assert_cgroup_empty() {
	local dir procs p
	dir=$(container_cgroup "$1") || return 1
	procs=$(cgroup_procs "$dir")
	[ -z "$procs" ] || {
		echo "cgroup $dir still holds processes:" >&2
		for p in $procs; do describe_pid "$p" >&2; done
		return 1
	}
	assert_no_units "$1"
}

# list_cgroups ID: every cgroup directory, in any hierarchy, whose name contains the id.
list_cgroups() {
	find "$CGROUP_ROOT" -type d -name "*$1*" 2>/dev/null || true
}

assert_no_cgroups() {
	local left
	left=$(list_cgroups "$1")
	[ -z "$left" ] || {
		echo "cgroups of $1 left behind:" $left >&2
		return 1
	}
	assert_no_units "$1"
}

# assert_no_units ID: with the systemd cgroup driver, no unit named after the container is still
# known to systemd but inactive: not active, not deactivating, not failed (a failed unit lingers).
assert_no_units() {
	[ "${BT_CGROUP_DRIVER:-}" = systemd ] || return 0
	local left
	left=$(systemctl list-units --all --plain --no-legend --full "*$1*" | awk '$3 != "inactive"')
	[ -z "$left" ] || {
		echo "systemd units of $1 left behind: $left" >&2
		return 1
	}
}

# assert_no_state ID: nothing under the state root is named after the container (its state directory,
# a lock file...), and `state ID` fails.
assert_no_state() {
	local left
	left=$(find "$ROOT" -name "*$1*" 2>/dev/null || true)
	if [ -n "$left" ]; then
		echo "left under the state root for $1:" $left >&2
		return 1
	fi
	rt_quiet state "$1"
	if [ "$status" -eq 0 ]; then
		echo "state $1 still succeeds: $output" >&2
		return 1
	fi
}

# assert_no_process ID: no live process (zombies have exited) mentions the id on its command line or in its cgroup paths, or has
# its working directory or root in the current bundle.
assert_no_process() {
	local hits p found=0
	# The id goes to grep through a file: on grep's own command line it would match grep itself.
	printf '%s\n' "$1" >"$BT_DIR/pattern"
	hits=$({
		grep -l -a -F -f "$BT_DIR/pattern" /proc/[0-9]*/cmdline /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3
		find /proc/[0-9]*/cwd /proc/[0-9]*/root -maxdepth 0 -printf '%l %p\n' 2>/dev/null |
			awk -v b="$BUNDLE" 'index($1, b) == 1 { split($2, a, "/"); print a[3] }'
	} | sort -un)
	for p in $hits; do
		[ "$p" != "$$" ] && [ "$p" != "$BASHPID" ] || continue
		# A zombie has exited: its parent (here PID 1, which reaps slowly) owes the reaping.
		case $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1) in Z | X | "") continue ;; esac
		echo "process left: $(describe_pid "$p") cwd $(readlink "/proc/$p/cwd" 2>/dev/null)" >&2
		found=1
	done
	[ "$found" -eq 0 ]
}

# assert_one_error_line PHRASE: after rt_quiet, the command failed with exit 1, printed nothing on
# stdout and exactly one line on stderr containing PHRASE.
assert_one_error_line() {
	if [ "$status" -ne 1 ]; then
		echo "exit status $status, expected 1 (stderr: $stderr)" >&2
		return 1
	fi
	if [ -n "$output" ]; then
		echo "stdout not empty: $output" >&2
		return 1
	fi
	if [ "${#stderr_lines[@]}" -ne 1 ]; then
		echo "stderr has ${#stderr_lines[@]} lines, expected 1:" >&2
		printf '%s\n' "${stderr_lines[@]}" >&2
		return 1
	fi
	case "$stderr" in
	*"$1"*) ;;
	*)
		echo "stderr does not contain '$1': $stderr" >&2
		return 1
		;;
	esac
}

# ---------------------------------------------------------------------------------------------------
# Containers the kill and delete tests share

# container_with_children N: a new container ($ID) in its own pid namespace, init (sleep) plus N
# background sleeps, all running and snapshotted (snapshot_pids) when this returns.
container_with_children() {
	local n=$1
	new_id
	make_fifo ready
	set_script "for i in \$(seq $n); do sleep 1000 & done; echo ready >/tmp/ready; exec sleep 1000"
	run_detached "$ID"
	[ "$(await_fifo ready)" = ready ]
	[ "$(snapshot_pids "$ID")" -eq $((n + 1)) ]
}

# host_pidns_container: a new container ($ID) in the host's pid namespace, init (sleep) plus 5 sleeps
# started with exec -d, snapshotted.
host_pidns_container() {
	new_id
	remove_ns pid
	run_detached "$ID"
	local i
	for i in 1 2 3 4 5; do
		must exec -d "$ID" sleep 1000
	done
	[ "$(snapshot_pids "$ID")" -eq 6 ]
}

# kill_init_from_host ID: SIGKILL the container's init behind the runtime's back and wait until it has
# exited: the "init gone" case, where the container reads as stopped but leftovers may remain.
kill_init_from_host() {
	local pid
	pid=$(init_pid "$1")
	[ "$pid" -gt 0 ]
	container_cgroup "$1" >/dev/null # remember the cgroup while init can still name it
	kill -9 "$pid"
	await_exit 10 "$pid"
}
