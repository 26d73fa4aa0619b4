#!/usr/bin/env bats
# berth's own flags, beyond runc's command line: skipped for other runtimes.

load helpers

setup() {
	bt_setup
	is_berth || skip "berth-only flags ($RUNTIME is not berth)"
}

@test "kill --wait --timeout: a process that traps TERM and exits" {
	new_id
	make_fifo ready
	set_script 'trap "exit 0" TERM; for i in 1 2 3; do sleep 1000 & done; echo ready >/tmp/ready; while :; do sleep 1000 & wait $!; done'
	run_detached "$ID"
	[ "$(await_fifo ready)" = ready ]
	[ "$(snapshot_pids "$ID")" -eq 5 ]

	must kill --wait --timeout 5s "$ID" TERM
	[ -z "$output" ]
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}

@test "kill --wait --timeout: a process that ignores TERM" {
	new_id
	make_fifo ready
	set_script 'trap "" TERM; echo ready >/tmp/ready; exec sleep 1000'
	run_detached "$ID"
	[ "$(await_fifo ready)" = ready ]
	local pid
	pid=$(init_pid "$ID")
	snapshot_pids "$ID"

	rt_quiet kill --wait --timeout 1s "$ID" TERM
	assert_one_error_line "$pid"
	# The state is kept: the container still runs, and a later kill finishes the job.
	[ -d "$ROOT/$ID" ]
	assert_status "$ID" running
	pid_alive "$pid"

	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}
