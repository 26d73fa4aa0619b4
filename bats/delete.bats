#!/usr/bin/env bats
# delete: when it returns 0, no process of the container runs, and its cgroups (in every hierarchy,
# sub-cgroups included) and its state are gone (CONTRACT.md, "delete"). Checked at once, no waiting.

load helpers

assert_all_gone() {
	assert_snapshot_gone "$1"
	assert_no_cgroups "$1"
	assert_no_state "$1"
}

@test "delete -f [running container]" {
	container_with_children 10
	must delete -f "$ID"
	[ -z "$output" ]
	assert_all_gone "$ID"
}

@test "delete -f [host pidns]" {
	host_pidns_container
	must delete -f "$ID"
	assert_all_gone "$ID"
}

@test "delete [created container]" {
	new_id
	create_container "$ID"
	[ "$(snapshot_pids "$ID")" -eq 1 ]
	must delete "$ID"
	assert_all_gone "$ID"
}

@test "delete [stopped container]" {
	new_id
	set_args true
	create_container "$ID" --pid-file "$BT_DIR/pid"
	container_cgroup "$ID" >/dev/null
	must start "$ID"
	# The container exits on its own: wait for that (this is not the runtime's delete).
	await_exit 10 "$(cat "$BT_DIR/pid")"
	assert_status "$ID" stopped
	# Its cgroups stay until delete, but for a scope unit: systemd removes an empty scope itself.
	[ "${BT_CGROUP_DRIVER:-}" = systemd ] || [ -n "$(list_cgroups "$ID")" ]

	must delete "$ID"
	assert_no_cgroups "$ID"
	assert_no_state "$ID"
}

# add_sub_cgroups PID MOVE: create sub1/sub2 inside the cgroup of PID in every hierarchy mounted here,
# and move process MOVE into sub1/sub2 where the hierarchy allows it. Prints how many moves worked.
add_sub_cgroups() {
	local pid=$1 move=$2 dir moved=0 f
	for dir in $(pid_cgroups "$pid"); do
		mkdir -p "$dir/sub1/sub2"
		# cpuset: a cgroup takes no task until it has cpus and mems.
		for f in cpuset.cpus cpuset.mems; do
			if [ -f "$dir/$f" ]; then
				cat "$dir/$f" >"$dir/sub1/$f"
				cat "$dir/$f" >"$dir/sub1/sub2/$f"
			fi
		done
		if echo "$move" >"$dir/sub1/sub2/cgroup.procs" 2>/dev/null; then
			moved=$((moved + 1))
		fi
	done
	echo "$moved"
}

@test "delete -f [sub-cgroups]" {
	container_with_children 1
	local init child
	init=$(init_pid "$ID")
	child=$(snapshot_list "$ID" | grep -vx "$init")
	[ "$(add_sub_cgroups "$init" "$child")" -ge 1 ]
	grep -q "$ID[^/]*/sub1/sub2\$" "/proc/$child/cgroup" # (a scope unit: ID.scope)

	must delete -f "$ID"
	assert_all_gone "$ID"
}

@test "delete -f [host pidns + sub-cgroups]" {
	host_pidns_container
	local init child
	init=$(init_pid "$ID")
	child=$(snapshot_list "$ID" | grep -vx "$init" | head -n 1)
	[ "$(add_sub_cgroups "$init" "$child")" -ge 1 ]
	grep -q "$ID[^/]*/sub1/sub2\$" "/proc/$child/cgroup" # (a scope unit: ID.scope)

	must delete -f "$ID"
	assert_all_gone "$ID"
}

@test "kill KILL [host pidns + sub-cgroups]" {
	host_pidns_container
	local init child
	init=$(init_pid "$ID")
	child=$(snapshot_list "$ID" | grep -vx "$init" | head -n 1)
	[ "$(add_sub_cgroups "$init" "$child")" -ge 1 ]

	must kill "$ID" KILL
	assert_snapshot_gone "$ID"
	assert_cgroup_empty "$ID"
	assert_status "$ID" stopped
}
