#!/usr/bin/env bats
# Resource limits and usage: `update` (runc's flags, its -r JSON, the order of cgroup writes),
# the limits `run` sets, and `events` (runc's JSON lines, OOM events, the end of the stream).
# Each test looks at the cgroup files directly, in whatever layout is mounted (v1, hybrid, v2);
# a test whose controller is not there for the container skips.

load helpers

setup() {
	bt_setup
	PARENT=
	EV_PID=
}

teardown() {
	if [ -n "${EV_PID:-}" ]; then
		kill -9 "$EV_PID" 2>/dev/null || true
		wait "$EV_PID" 2>/dev/null || true
	fi
	bt_teardown
	# A parent cgroup the test made for its container (in every hierarchy): empty by now.
	if [ -n "${PARENT:-}" ]; then
		find "$CGROUP_ROOT" -maxdepth 2 -type d -name "$PARENT" -exec rmdir {} + 2>/dev/null || true
	fi
}

# cg_file ID CONTROLLER V1NAME V2NAME: the path of a file of the container's cgroup: V1NAME in the
# hierarchy of the v1 CONTROLLER when there is one, else V2NAME in its cgroup2 directory (where the
# controller is enabled). Fails (and the caller skips) when neither is there.
cg_file() {
	local pid entries ctrls dir
	pid=$(init_pid "$1") || return 1
	entries=$(cgroup_entries "$pid")
	while read -r ctrls dir; do
		case ",$ctrls," in *",$2,"*)
			echo "$dir/$3"
			return 0
			;;
		esac
	done <<<"$entries"
	while read -r ctrls dir; do
		if [ "$ctrls" = - ] && [ -e "$dir/$4" ]; then
			echo "$dir/$4"
			return 0
		fi
	done <<<"$entries"
	return 1
}

# controller_usable NAME...: one of the controllers can limit a container here: a v1 hierarchy has
# it, or the cgroup2 root offers it (on a hybrid machine v1 holds the controllers, and a view with
# cgroup2 alone then has none of them).
controller_usable() {
	local c v2
	v2=$(cgroup_mountpoint "")
	for c in "$@"; do
		[ -z "$(cgroup_mountpoint "$c")" ] || return 0
		[ -z "$v2" ] || ! grep -qw "$c" "$v2/cgroup.controllers" || return 0
	done
	return 1
}

# v1_layout: cgroup v1 holds the controllers (v1 or hybrid), as runtimes see it.
v1_layout() {
	[ -n "$(cgroup_mountpoint memory)$(cgroup_mountpoint pids)$(cgroup_mountpoint cpu)" ]
}

# start_events ARGS...: `events ARGS...` in the background (EV_PID), its stdout read line by line
# through fd 5 with next_event.
start_events() {
	mkfifo "$BT_DIR/events"
	"$RUNTIME" --root "$ROOT" "${RT_GLOBAL[@]}" events "$@" \
		</dev/null >"$BT_DIR/events" 2>"$BT_DIR/events.err" 3>&- &
	EV_PID=$!
	exec 5<"$BT_DIR/events"
}

# next_event: reads the next line of events into EVENT (10 s at most).
next_event() {
	if ! read -r -t 10 EVENT <&5; then
		echo "no event line within 10 s; stderr: $(cat "$BT_DIR/events.err")" >&2
		return 1
	fi
}

# events_end: events has exited (10 s at most), status 0.
events_end() {
	if ! await_exit 10 "$EV_PID" >/dev/null; then
		echo "events still runs 10 s after the container went away" >&2
		return 1
	fi
	local st=0
	wait "$EV_PID" || st=$?
	EV_PID=
	[ "$st" -eq 0 ] || {
		echo "events exited $st: $(cat "$BT_DIR/events.err")" >&2
		return 1
	}
}

# A 32 MiB memory limit, and no swap to spill into (where there is swap).
limit_memory_32m() {
	if [ "$(wc -l </proc/swaps)" -gt 1 ]; then
		cfg '.linux.resources.memory = {limit: 33554432, swap: 33554432}'
	else
		cfg '.linux.resources.memory = {limit: 33554432}'
	fi
}

@test "update --memory: sizes with units, and -1 removes the limit" {
	controller_usable memory || skip "no memory controller"
	new_id
	limit_memory_32m
	run_detached "$ID"
	local f swap
	f=$(cg_file "$ID" memory memory.limit_in_bytes memory.max) || skip "no memory controller for the container"
	[ "$(cat "$f")" = 33554432 ]

	must update --memory 50M "$ID"
	[ "$(cat "$f")" = 52428800 ]
	must update --memory 64m "$ID"
	[ "$(cat "$f")" = 67108864 ]

	must update --memory -1 "$ID"
	case "$(cat "$f")" in max | 9223372036854771712) ;; *)
		echo "memory limit still $(cat "$f")" >&2
		false
		;;
	esac
	# The swap limit goes with it, where the kernel has one.
	swap=$(dirname "$f")/memory.memsw.limit_in_bytes
	[ ! -e "$swap" ] || [ "$(cat "$swap")" = 9223372036854771712 ]

	rt_quiet update --memory 50X "$ID"
	[ "$status" -ne 0 ]
}

@test "update: the CPU period and quota not given are kept, --cpu-quota -1 removes the quota" {
	controller_usable cpu || skip "no cpu controller"
	new_id
	cfg '.linux.resources.cpu = {shares: 100, quota: 500000, period: 1000000}'
	run_detached "$ID"
	local f dir
	f=$(cg_file "$ID" cpu cpu.cfs_quota_us cpu.max) || skip "no cpu controller for the container"
	dir=$(dirname "$f")

	must update --cpu-period 900000 "$ID"
	if [ "${f##*/}" = cpu.max ]; then
		[ "$(cat "$f")" = "500000 900000" ]
	else
		[ "$(cat "$dir/cpu.cfs_quota_us")" = 500000 ]
		[ "$(cat "$dir/cpu.cfs_period_us")" = 900000 ]
	fi

	must update --cpu-quota -1 "$ID"
	if [ "${f##*/}" = cpu.max ]; then
		[ "$(cat "$f")" = "max 900000" ]
	else
		[ "$(cat "$dir/cpu.cfs_quota_us")" = -1 ]
		[ "$(cat "$dir/cpu.cfs_period_us")" = 900000 ]
	fi
}

@test "update -r: runc's JSON, its keys in any case, from a file and from stdin" {
	controller_usable pids || skip "no pids controller"
	new_id
	cfg '.linux.resources.pids = {limit: 20}'
	run_detached "$ID"
	local pids shares
	pids=$(cg_file "$ID" pids pids.max pids.max) || skip "no pids controller for the container"

	echo '{"Pids": {"Limit": 10}, "memory": {"limit": null}}' >"$BT_DIR/r.json"
	must update -r "$BT_DIR/r.json" "$ID"
	[ "$(cat "$pids")" = 10 ]

	rt update -r - "$ID" <<<'{"pids": {"limit": -1}}'
	[ "$(cat "$pids")" = max ]

	if shares=$(cg_file "$ID" cpu cpu.shares cpu.weight); then
		rt update -r - "$ID" <<<'{"CPU": {"Shares": 200}}'
		case "${shares##*/}" in
		cpu.shares) [ "$(cat "$shares")" = 200 ] ;;
		cpu.weight) [ "$(cat "$shares")" = 8 ] ;; # 1 + (200 - 2) * 9999 / 262142
		esac
	fi

	echo '{"pids": ' >"$BT_DIR/bad.json"
	rt_quiet update -r "$BT_DIR/bad.json" "$ID"
	[ "$status" -ne 0 ]
	[ "$(cat "$pids")" = max ]
}

@test "update: a shorter CFS period under a parent's quota (the quota is written first)" {
	v1_layout || skip "cgroup v2: cpu.max takes quota and period at once"
	[ -n "$(cgroup_mountpoint cpu)" ] || skip "no cpu controller"
	new_id
	PARENT="bt-parent-$$"
	cfg --arg p "/$PARENT/$ID" '.linux.cgroupsPath = $p
		| .linux.resources.cpu = {quota: 500000, period: 1000000}'
	mkdir -p "$(cgroup_mountpoint cpu)/$PARENT"
	echo 50000 >"$(cgroup_mountpoint cpu)/$PARENT/cpu.cfs_quota_us" # 50% of the parent's 100 ms
	run_detached "$ID"
	local dir
	dir=$(dirname "$(cg_file "$ID" cpu cpu.cfs_quota_us cpu.max)")

	# More than the parent allows is refused.
	rt_quiet update --cpu-quota 600000 "$ID"
	[ "$status" -ne 0 ]
	# 30% with a shorter period: the period alone would be 500% with the old quota.
	must update --cpu-period 10000 --cpu-quota 3000 "$ID"
	[ "$(cat "$dir/cpu.cfs_quota_us")" = 3000 ]
	[ "$(cat "$dir/cpu.cfs_period_us")" = 10000 ]
}

@test "update --cpu-rt-period/--cpu-rt-runtime (cgroup v1)" {
	local mnt
	mnt=$(cgroup_mountpoint cpu)
	[ -n "$mnt" ] && [ -e "$mnt/cpu.rt_runtime_us" ] || skip "no realtime group scheduling (cgroup v1 cpu.rt_*)"
	new_id
	PARENT="bt-parent-$$"
	cfg --arg p "/$PARENT/$ID" '.linux.cgroupsPath = $p'
	# Realtime time must be granted down the tree before a container can get any.
	mkdir -p "$mnt/$PARENT"
	echo 500000 >"$mnt/$PARENT/cpu.rt_runtime_us"
	run_detached "$ID"
	local dir
	dir=$(dirname "$(cg_file "$ID" cpu cpu.rt_runtime_us cpu.max)")

	must update --cpu-rt-period 800001 --cpu-rt-runtime 400001 "$ID"
	[ "$(cat "$dir/cpu.rt_period_us")" = 800001 ]
	[ "$(cat "$dir/cpu.rt_runtime_us")" = 400001 ]
	# A period shorter than the current runtime: the runtime goes first.
	rt update -r - "$ID" <<<'{"cpu": {"realtimePeriod": 300000, "realtimeRuntime": 100000}}'
	[ "$(cat "$dir/cpu.rt_period_us")" = 300000 ]
	[ "$(cat "$dir/cpu.rt_runtime_us")" = 100000 ]
}

@test "update leaves the device rules alone: no write is ever refused while limits change" {
	[ -n "$(cgroup_mountpoint devices)" ] || skip "no v1 devices controller (berth's libcontainer has no v2 device filter)"
	new_id
	# /dev/kmsg is in the container but denied; /dev/null is allowed. The container keeps using
	# both and records any failure to write /dev/null and any byte read from /dev/kmsg.
	cfg '.linux.resources.devices = [{allow: false, access: "rwm"}, {allow: false, type: "c", major: 1, minor: 11, access: "rw"}]
		| .linux.devices = [{path: "/dev/kmsg", type: "c", major: 1, minor: 11}]
		| .process.capabilities.bounding += ["CAP_SYSLOG"]
		| .process.capabilities.effective += ["CAP_SYSLOG"]
		| .process.capabilities.permitted += ["CAP_SYSLOG"]'
	make_fifo ready
	set_script 'echo ready >/tmp/ready; while :; do echo x >/dev/null 2>>/tmp/null-errors || echo refused >>/tmp/null-errors; head -c 100 /dev/kmsg >>/tmp/kmsg 2>/dev/null; done'
	run_detached "$ID"
	[ "$(await_fifo ready)" = ready ]
	for i in $(seq 30); do
		must update --pids-limit $((100 + i)) "$ID"
	done
	must kill "$ID" KILL
	[ ! -s "$SHARED/null-errors" ] || {
		echo "writes to /dev/null were refused: $(head -c 200 "$SHARED/null-errors")" >&2
		false
	}
	[ ! -s "$SHARED/kmsg" ]
}

@test "run: linux.resources.unified on cgroup v1 is an invalid configuration" {
	v1_layout || skip "cgroup v2 takes unified resources"
	new_id
	cfg '.linux.resources.unified = {"memory.min": "131072"}'
	rt_quiet run -d --bundle "$BUNDLE" "$ID"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"invalid configuration"* ]]
	assert_no_cgroups "$ID"
}

@test "run: blockIO weightDevice reaches the device's weight (BFQ)" {
	controller_usable blkio io || skip "no blkio/io controller"
	losetup --version >/dev/null 2>&1 || skip "no losetup"
	local dev base major minor f
	truncate -s 4096 "$BT_DIR/backing.img"
	dev=$(losetup --find --show "$BT_DIR/backing.img") || skip "cannot make a loop device"
	base=${dev#/dev/}
	if ! grep -qw bfq "/sys/block/$base/queue/scheduler" || ! echo bfq >"/sys/block/$base/queue/scheduler"; then
		losetup -d "$dev"
		skip "no BFQ I/O scheduler"
	fi
	IFS=: read -r major minor <"/sys/block/$base/dev"
	new_id
	cfg --argjson maj "$major" --argjson min "$minor" '.linux.resources.blockIO = {weight: 333, weightDevice: [{major: $maj, minor: $min, weight: 444}]}'
	rt_quiet run -d --bundle "$BUNDLE" "$ID"
	losetup -d "$dev"
	[ "$status" -eq 0 ] || {
		echo "run failed: $stderr" >&2
		false
	}
	f=$(cg_file "$ID" blkio blkio.bfq.weight_device io.bfq.weight) || skip "no io controller for the container"
	grep -q "^default 333$" "$f"
	grep -q "^$major:$minor 444$" "$f"
}

@test "events --stats: one JSON line, runc's fields in runc's order" {
	new_id
	run_detached "$ID"
	must events --stats "$ID"
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "{\"type\":\"stats\",\"id\":\"$ID\",\"data\":{\"cpu\":{\"usage\":{"* ]]
	jq -e '.data | (.pids.current >= 1) and has("memory") and has("blkio") and has("hugetlb") and has("cpuset")' <<<"${lines[0]}"
}

@test "events: a line every interval, and the stream ends when the container is deleted" {
	new_id
	run_detached "$ID"
	start_events --interval 100ms "$ID"
	for i in 1 2 3; do
		next_event
		[ "$(jq -r '.type + " " + .id' <<<"$EVENT")" = "stats $ID" ]
	done
	must delete -f "$ID"
	events_end
}

@test "events: the stream ends when the container exits" {
	new_id
	make_fifo go
	set_script 'read x </tmp/go'
	run_detached "$ID"
	start_events --interval 1h "$ID"
	next_event
	echo go >"$SHARED/go"
	events_end
}

@test "events: an oom event when the container runs out of memory" {
	controller_usable memory || skip "no memory controller"
	new_id
	limit_memory_32m
	run_detached "$ID"
	start_events --interval 1h "$ID"
	next_event
	must exec -d "$ID" sh -c 'x=$(dd if=/dev/zero bs=1M count=256 2>/dev/null | tr "\\0" a)'
	next_event
	[ "$EVENT" = "{\"type\":\"oom\",\"id\":\"$ID\"}" ]
	must delete -f "$ID"
	events_end
}

@test "events of a stopped container fails" {
	new_id
	set_args true
	create_container "$ID"
	local pid
	pid=$(init_pid "$ID")
	must start "$ID"
	await_exit 10 "$pid" >/dev/null
	rt_quiet events --stats "$ID"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"not running"* ]]
}
