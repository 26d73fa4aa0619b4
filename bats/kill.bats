#!/usr/bin/env bats
# kill: signal parsing, and berth's synchronous KILL (CONTRACT.md, "kill" and "What gone means").
#
# The synchronous tests snapshot the container's processes, run `kill ID KILL` and check at once, with
# no wait of any kind, that every snapshotted process is gone (a zombie counts as gone), that the
# container's cgroup lists no process and that the container reads as stopped. runc returns before the
# processes die, and with a host pid namespace it only signals init: these tests are expected to fail
# against runc; that difference is what berth is for.

load helpers

# A container whose foreground `run` is a background job of the test: its exit status tells which
# signal ended init (128+N), without polling.
start_foreground_sleeper() {
	new_id
	make_fifo ready
	set_script 'echo ready >/tmp/ready; exec sleep 1000'
	fg_start "$ID"
	[ "$(await_fifo ready)" = ready ]
}

@test "kill: signal KILL" {
	start_foreground_sleeper
	must kill "$ID" KILL
	fg_wait
	[ "$status" -eq 137 ]
}

@test "kill: signal kill (lower case)" {
	start_foreground_sleeper
	must kill "$ID" kill
	fg_wait
	[ "$status" -eq 137 ]
}

@test "kill: signal SIGKILL" {
	start_foreground_sleeper
	must kill "$ID" SIGKILL
	fg_wait
	[ "$status" -eq 137 ]
}

@test "kill: signal 9" {
	start_foreground_sleeper
	must kill "$ID" 9
	fg_wait
	[ "$status" -eq 137 ]
}

@test "kill: signal 0 on a running container" {
	new_id
	run_detached "$ID"
	must kill "$ID" 0
	[ -z "$output" ]
	assert_status "$ID" running
	pid_alive "$(init_pid "$ID")"
}

# init traps TERM and exits 42: the foreground run exits 42 when TERM arrived.
start_foreground_term_trapper() {
	new_id
	make_fifo ready
	set_script 'trap "exit 42" TERM; echo ready >/tmp/ready; while :; do sleep 1000 & wait $!; done'
	fg_start "$ID"
	[ "$(await_fifo ready)" = ready ]
}

@test "kill TERM: a process that traps TERM runs its trap" {
	start_foreground_term_trapper
	must kill "$ID" TERM
	fg_wait
	[ "$status" -eq 42 ]
}

@test "kill: the default signal is TERM" {
	start_foreground_term_trapper
	must kill "$ID"
	fg_wait
	[ "$status" -eq 42 ]
}

# sync_kill_private N: a container in its own pid namespace with N background processes besides init.
sync_kill_private() {
	container_with_children "$1"

	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
	[ "$(init_pid "$ID")" = 0 ]
}

@test "kill KILL is synchronous [private pidns, init alone]" {
	sync_kill_private 0
}

@test "kill KILL is synchronous [private pidns, 10 more processes]" {
	sync_kill_private 10
}

@test "kill KILL is synchronous [private pidns, 200 more processes]" {
	sync_kill_private 200
}

@test "kill KILL [host pidns]" {
	host_pidns_container
	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "kill KILL [host pidns + init gone]" {
	host_pidns_container
	kill_init_from_host "$ID"
	assert_status "$ID" stopped
	# The leftovers still run.
	[ "$(container_procs "$ID" | wc -l)" -eq 5 ]

	must kill --all "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
}

@test "delete [host pidns + init gone]" {
	host_pidns_container
	kill_init_from_host "$ID"
	assert_status "$ID" stopped

	must delete "$ID"
	assert_snapshot_gone "$ID"
	assert_no_cgroups "$ID"
	assert_no_state "$ID"
}

# fork_loop_container: 4 shells forking and reaping /bin/true as fast as they can, at nice 19 and on
# CPU 0 alone: unbounded they starve a small machine (the test itself, and the runtime) for seconds.
fork_loop_container() {
	new_id
	make_fifo ready
	set_script 'for i in 1 2 3 4; do taskset 0x1 sh -c "renice -n 19 -p \$\$ >/dev/null; while :; do /bin/true; done" & done; echo ready >/tmp/ready; exec sleep 1000'
	"$@"
	run_detached "$ID"
	[ "$(await_fifo ready)" = ready ]
	[ "$(snapshot_pids "$ID")" -ge 5 ]
}

@test "kill KILL [fork loop]" {
	fork_loop_container
	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "kill KILL [host pidns + fork loop]" {
	fork_loop_container remove_ns pid
	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "kill KILL [paused container]" {
	container_with_children 10
	must pause "$ID"
	assert_status "$ID" paused

	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "kill KILL [paused container, host pidns]" {
	host_pidns_container
	must pause "$ID"
	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "delete --force [paused container]" {
	container_with_children 10
	must pause "$ID"

	must delete --force "$ID"
	assert_snapshot_gone "$ID"
	assert_no_cgroups "$ID"
	assert_no_state "$ID"
}
