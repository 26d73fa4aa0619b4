#!/usr/bin/env bats
# The container lifecycle and the output formats callers parse (go-runc, podman).

load helpers

@test "--version: first line is '<name> version '" {
	run "$RUNTIME" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^[a-z]+\ version\  ]]
}

@test "spec writes runc's default config.json" {
	local dir=$BT_DIR/spec
	mkdir "$dir"
	cd "$dir"
	run rt spec
	[ "$status" -eq 0 ]
	[ -f config.json ]
	[ "$(jq -r .process.terminal config.json)" = true ]
	[ "$(jq -c .process.args config.json)" = '["sh"]' ]
	[ "$(jq -r .root.path config.json)" = rootfs ]
	jq -e '.linux.namespaces | map(.type) | index("pid") and index("mount")' config.json
}

@test "create, start, kill KILL, delete" {
	new_id
	create_container "$ID"
	assert_status "$ID" created
	local pid
	pid=$(init_pid "$ID")
	[ "$pid" -gt 0 ]

	must start "$ID"
	assert_status "$ID" running
	[ "$(init_pid "$ID")" = "$pid" ]

	must kill "$ID" KILL
	assert_status "$ID" stopped
	[ "$(init_pid "$ID")" = 0 ]

	must delete "$ID"
	[ ! -e "$ROOT/$ID" ]
	rt_quiet state "$ID"
	assert_one_error_line "container does not exist"
}

@test "run -d: running once it returns" {
	new_id
	run_detached "$ID"
	[ -z "$output" ]
	assert_status "$ID" running
	pid_alive "$(init_pid "$ID")"
}

@test "run: foreground run exits with the process's status" {
	new_id
	set_script 'exit 3'
	run rt run --bundle "$BUNDLE" "$ID"
	[ "$status" -eq 3 ]
	# The foreground run deletes the container when it exits.
	[ ! -e "$ROOT/$ID" ]
}

@test "run: foreground run of a process killed by signal 9 exits 137" {
	new_id
	# In its own pid namespace sh is init, and init cannot be killed from inside: use the host's.
	remove_ns pid
	set_script 'kill -9 $$'
	run rt run --bundle "$BUNDLE" "$ID"
	[ "$status" -eq 137 ]
}

@test "run: foreground run passes stdout through" {
	new_id
	set_args echo hello from the container
	run rt run --bundle "$BUNDLE" "$ID"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from the container" ]
}

@test "state: JSON with the runtime spec's keys" {
	new_id
	run_detached "$ID"
	run rt state "$ID"
	[ "$status" -eq 0 ]
	# stdout and stderr together parse as JSON (go-runc reads them combined).
	jq -e . <<<"$output" >/dev/null
	local key
	for key in ociVersion id pid status bundle rootfs created owner; do
		jq -e --arg k "$key" 'has($k)' <<<"$output" >/dev/null || {
			echo "key $key missing: $output" >&2
			false
		}
	done
	[ "$(jq -r .id <<<"$output")" = "$ID" ]
	[ "$(jq -r .status <<<"$output")" = running ]
	[ "$(jq -r .bundle <<<"$output")" = "$BUNDLE" ]
	[ "$(jq -r '.pid | type' <<<"$output")" = number ]
	# No annotations in the config: the key is left out.
	jq -e 'has("annotations") | not' <<<"$output" >/dev/null
	# Indented, not on one line.
	[ "${#lines[@]}" -gt 1 ]
}

@test "pid file holds the bare number" {
	new_id a
	create_container "$ID" --pid-file "$BT_DIR/create.pid"
	[ -z "$output" ]
	local pid
	pid=$(init_pid "$ID")
	[ "$(cat "$BT_DIR/create.pid")" = "$pid" ]
	[ "$(stat -c %s "$BT_DIR/create.pid")" -eq "${#pid}" ]

	new_id b
	run_detached "$ID" --pid-file "$BT_DIR/run.pid"
	pid=$(init_pid "$ID")
	[ "$(cat "$BT_DIR/run.pid")" = "$pid" ]
	[ "$(stat -c %s "$BT_DIR/run.pid")" -eq "${#pid}" ]
}

@test "list: runc's table" {
	new_id
	run_detached "$ID"
	local pid
	pid=$(init_pid "$ID")
	run rt list
	[ "$status" -eq 0 ]
	[ "$(tr -s ' \t' ' ' <<<"${lines[0]}" | sed 's/ *$//')" = "ID PID STATUS BUNDLE CREATED OWNER" ]
	[ "${#lines[@]}" -eq 2 ]
	read -r id p st bundle created owner <<<"${lines[1]}"
	[ "$id" = "$ID" ]
	[ "$p" = "$pid" ]
	[ "$st" = running ]
	[ "$bundle" = "$BUNDLE" ]
	[ "$owner" = root ]
}

@test "list -q: the ids alone" {
	new_id a
	run_detached "$ID"
	new_id b
	create_container "$ID"
	run rt list -q
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "bt-$BATS_TEST_NUMBER-$$-a bt-$BATS_TEST_NUMBER-$$-b " ]
}

@test "list --format json" {
	new_id a
	run_detached "$ID"
	new_id b
	create_container "$ID"
	run rt list --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'type' <<<"$output")" = array ]
	[ "$(jq -r 'length' <<<"$output")" -eq 2 ]
	[ "$(jq -r --arg id "bt-$BATS_TEST_NUMBER-$$-a" '.[] | select(.id == $id) | .status' <<<"$output")" = running ]
	[ "$(jq -r --arg id "bt-$BATS_TEST_NUMBER-$$-b" '.[] | select(.id == $id) | .status' <<<"$output")" = created ]
	[ "$(jq -r --arg id "bt-$BATS_TEST_NUMBER-$$-a" '.[] | select(.id == $id) | .bundle' <<<"$output")" = "$BUNDLE" ]
}

@test "list: empty root" {
	run rt list -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "exec: output and exit status" {
	new_id
	run_detached "$ID"
	run rt exec "$ID" echo hello
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	run rt exec "$ID" sh -c 'exit 7'
	[ "$status" -eq 7 ]
}

@test "exec -d: the process runs in the container" {
	new_id
	run_detached "$ID"
	must exec -d "$ID" sleep 1000
	[ "$(container_procs "$ID" | wc -l)" -eq 2 ]
}

@test "ps --format json: array of ints with init's host pid" {
	new_id
	run_detached "$ID"
	must exec -d "$ID" sleep 1000
	run rt ps --format json "$ID"
	[ "$status" -eq 0 ]
	jq -e 'type == "array" and length == 2 and all(.[]; type == "number")' <<<"$output"
	jq -e --argjson pid "$(init_pid "$ID")" 'index($pid) != null' <<<"$output"
}

@test "pause and resume" {
	new_id
	run_detached "$ID"
	must pause "$ID"
	assert_status "$ID" paused
	must resume "$ID"
	assert_status "$ID" running
}
