#!/usr/bin/env bats
# Error phrases callers match (CONTRACT.md, "Errors and logs"): verbatim, exit 1, one line on stderr,
# nothing on stdout. A failed create leaves nothing behind.

load helpers

@test "state of an unknown container: container does not exist" {
	new_id
	rt_quiet state "$ID"
	assert_one_error_line "container does not exist"
}

@test "kill of an unknown container: container does not exist" {
	new_id
	rt_quiet kill "$ID" KILL
	assert_one_error_line "container does not exist"
}

@test "delete of an unknown container: container does not exist" {
	new_id
	rt_quiet delete "$ID"
	assert_one_error_line "container does not exist"
}

@test "start of an unknown container: container does not exist" {
	new_id
	rt_quiet start "$ID"
	assert_one_error_line "container does not exist"
}

@test "delete -f of an unknown container exits 0" {
	new_id
	rt_quiet delete -f "$ID"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "create with an invalid id: invalid container ID format" {
	local id
	for id in ../x a/b .; do
		rt_quiet create --bundle "$BUNDLE" "$id"
		assert_one_error_line "invalid container ID format"
	done
	# Nothing written for them: no state, no lock file, nothing outside the root.
	[ -z "$(find "$ROOT" -type f 2>/dev/null)" ]
	[ ! -e "$BT_DIR/x" ]
}

@test "state with an invalid id: invalid container ID format" {
	local id
	for id in ../x a/b .; do
		rt_quiet state "$id"
		assert_one_error_line "invalid container ID format"
	done
}

@test "create twice: container with given ID already exists" {
	new_id
	create_container "$ID"
	rt_quiet create --bundle "$BUNDLE" "$ID"
	assert_one_error_line "container with given ID already exists"
	# The first container is untouched.
	assert_status "$ID" created
}

@test "kill with an unknown signal: unknown signal \"FOO\"" {
	new_id
	run_detached "$ID"
	rt_quiet kill "$ID" FOO
	assert_one_error_line 'unknown signal "FOO"'
	assert_status "$ID" running
}

@test "delete of a running container without -f: is not stopped: running" {
	new_id
	run_detached "$ID"
	rt_quiet delete "$ID"
	assert_one_error_line "is not stopped: running"
	assert_one_error_line "cannot delete container $ID that is not stopped: running"
	assert_status "$ID" running
}

@test "delete of a paused container without -f: is not stopped: paused" {
	new_id
	run_detached "$ID"
	must pause "$ID"
	rt_quiet delete "$ID"
	assert_one_error_line "is not stopped: paused"
	assert_status "$ID" paused
}

@test "resume of a running container: container not paused" {
	new_id
	run_detached "$ID"
	rt_quiet resume "$ID"
	assert_one_error_line "container not paused"
	assert_status "$ID" running
}

@test "kill of a stopped container: container not running; with --all it succeeds" {
	new_id
	set_args true
	create_container "$ID" --pid-file "$BT_DIR/pid"
	must start "$ID"
	# The container exits on its own: wait for that (this is not the runtime's kill).
	await_exit 10 "$(cat "$BT_DIR/pid")"
	assert_status "$ID" stopped

	rt_quiet kill "$ID" KILL
	assert_one_error_line "container not running"
	rt_quiet kill --all "$ID" KILL
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	must delete "$ID"
}

# A create that fails exits 1 with one line on stderr and leaves no state directory, no cgroup and no
# process.
assert_nothing_left() {
	assert_one_error_line ""
	assert_no_state "$ID"
	assert_no_cgroups "$ID"
	assert_no_process "$ID"
}

@test "create with a missing bundle fails and leaves nothing behind" {
	new_id
	rt_quiet create --bundle "$BT_DIR/no-such-bundle" "$ID"
	assert_nothing_left
}

@test "create with a malformed config.json fails and leaves nothing behind" {
	new_id
	echo '{ "ociVersion": "1.0.2", "process": ' >"$BUNDLE/config.json"
	rt_quiet create --bundle "$BUNDLE" "$ID"
	assert_nothing_left
}

@test "create with a missing rootfs fails and leaves nothing behind" {
	new_id
	cfg --arg r "$BT_DIR/no-such-rootfs" '.root.path = $r'
	rt_quiet create --bundle "$BUNDLE" "$ID"
	assert_nothing_left
}

@test "run with a missing executable fails and leaves nothing behind" {
	new_id
	set_args /no/such/executable
	rt_quiet run -d --bundle "$BUNDLE" "$ID"
	assert_nothing_left
}
