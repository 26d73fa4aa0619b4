#!/usr/bin/env bats
# The command line around the containers: help in runc's layout (NAME, then "NAME COMMAND - ..."),
# `help COMMAND`, unknown topics, the version lines, and --debug (to stderr, or to --log in text or
# json). runc's help.bats, version.bats and debug.bats check the same with the name "runc" and runc's
# own debug messages; these use the runtime's own name, so they pass for berth and for runc.

load helpers

setup() {
	bt_setup
	if is_berth; then NAME=berth; else NAME=$(basename "$RUNTIME"); fi
}

# commands: the commands `-h` lists under COMMANDS (runc's "help, h" and berth's "help" left out).
commands() {
	rt -h | awk '/^COMMANDS:/ { on = 1; next } on && /^$/ { exit } on { sub(/,$/, "", $1); print $1 }' |
		grep -vx help
}

@test "-h and --help: NAME, then the runtime's name and what it is" {
	local flag
	for flag in -h --help; do
		must "$flag"
		[ "${lines[0]}" = "NAME:" ]
		[[ "${lines[1]}" =~ ^\ +$NAME\ -\ [^\ ] ]]
		grep -qx "USAGE:" "$BT_DIR/rt.out"
	done
}

@test "COMMAND -h, COMMAND --help and help COMMAND, for every command" {
	local cmds cmd help
	cmds=$(commands)
	# runc's help.bats checks these: the list must not have lost any.
	for cmd in checkpoint delete events exec kill list pause restore resume spec start run state update; do
		grep -qx "$cmd" <<<"$cmds"
	done
	for cmd in $cmds; do
		must "$cmd" -h
		[ "${lines[0]}" = "NAME:" ]
		[[ "${lines[1]}" =~ ^\ +$NAME\ $cmd\ -\ [^\ ] ]] || {
			echo "$cmd -h: ${lines[1]}" >&2
			return 1
		}
		help=$output
		must "$cmd" --help
		[ "${lines[0]}" = "NAME:" ]
		[[ "${lines[1]}" =~ ^\ +$NAME\ $cmd\ - ]]
		must help "$cmd"
		[ "$output" = "$help" ] || {
			echo "help $cmd differs from $cmd -h" >&2
			return 1
		}
	done
}

@test "foo -h and help foo: No help topic for 'foo'" {
	rt_quiet foo -h
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"No help topic for 'foo'"* ]]
	[ -z "$output" ]
	rt_quiet help foo
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"No help topic for 'foo'"* ]]
}

@test "-v and --version: NAME version N.N.N, commit:, spec: N.N.N" {
	local flag
	for flag in -v --version; do
		must "$flag"
		[[ "${lines[0]}" =~ ^$NAME\ version\ [0-9]+\.[0-9]+\.[0-9]+ ]]
		[[ "${lines[1]}" =~ ^commit: ]]
		[[ "${lines[2]}" =~ ^spec:\ [0-9]+\.[0-9]+\.[0-9]+ ]]
	done
}

# The lines libcontainer logs from the container's own processes (berth's forks) reach the log too:
# its rootfs module runs only in the container's init, its workload module only in the process about to
# exec the container's program (init's, or exec's).
FROM_INIT=libcontainer::rootfs
FROM_EXEC=berth::workload

@test "--debug without --log: debug lines on stderr, the container's own setup among them" {
	new_id
	set_args echo hello
	must --debug run --bundle "$BUNDLE" "$ID"
	[ "$output" = hello ]
	[[ "$stderr" == *"level=debug"* ]]
	if is_berth; then
		grep -q "level=debug msg=\"$FROM_INIT" "$BT_DIR/rt.err"
		grep -q "level=debug msg=\"$FROM_EXEC" "$BT_DIR/rt.err"
	fi
}

@test "--debug without --log, failing: the error is one line, not repeated as a log line" {
	is_berth || skip "runc writes its error as a log line"
	new_id
	set_args /no/such/binary
	rt_quiet --debug run --bundle "$BUNDLE" "$ID"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"level=debug"* ]]
	# Every line is a log line but one: the error.
	[ "$(grep -cv '^time="[^"]*" level=' "$BT_DIR/rt.err")" -eq 1 ]
	grep -v '^time="[^"]*" level=' "$BT_DIR/rt.err" | grep -q "executable file not found"
	run ! grep -q "level=error" "$BT_DIR/rt.err"
}

@test "--debug --log FILE: debug lines in FILE (text), none on stderr" {
	new_id
	set_args echo hello
	local log=$BT_DIR/log.out
	must --log "$log" --debug run --bundle "$BUNDLE" "$ID"
	[ "$output" = hello ]
	[[ "$stderr" != *"level=debug"* ]]
	grep -q "level=debug" "$log"
	# One whole line per event: time, level, message.
	run ! grep -v '^time="[^"]*" level=[a-z]* msg=".*"$' "$log"
	if is_berth; then
		grep -q "level=debug msg=\"$FROM_INIT" "$log"
		grep -q "level=debug msg=\"$FROM_EXEC" "$log"
	fi
	# --log-format text is the default.
	rm "$log"
	new_id b
	must --log "$log" --log-format text --debug run --bundle "$BUNDLE" "$ID"
	grep -q "level=debug" "$log"
}

@test "--debug --log FILE --log-format json: one JSON object per line, level msg time" {
	new_id
	set_args echo hello
	local log=$BT_DIR/log.json
	must --log "$log" --log-format json --debug run --bundle "$BUNDLE" "$ID"
	[ "$output" = hello ]
	[[ "$stderr" != *'"level":"debug"'* ]]
	grep -q '"level":"debug"' "$log"
	# Every line parses, with string level, msg and time.
	jq -e -s 'length > 0 and all(.[]; (.level | type) == "string" and (.msg | type) == "string" and (.time | type) == "string")' "$log" >/dev/null
	if is_berth; then
		# Exactly runc's keys (CONTRACT.md).
		jq -e -s 'all(.[]; keys == ["level", "msg", "time"])' "$log" >/dev/null
		jq -e -s --arg m "$FROM_INIT" 'any(.[]; .level == "debug" and (.msg | startswith($m)))' "$log" >/dev/null
	fi
}

@test "--debug exec: the new process's setup is logged, to stderr or to --log" {
	new_id
	run_detached "$ID"
	rt_quiet --debug exec "$ID" true
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"level=debug"* ]]
	if is_berth; then grep -q "level=debug msg=\"$FROM_EXEC" "$BT_DIR/rt.err"; fi

	local log=$BT_DIR/exec.log
	rt_quiet --debug --log "$log" exec "$ID" true
	[ "$status" -eq 0 ]
	[[ "$stderr" != *"level=debug"* ]]
	grep -q "level=debug" "$log"
	if is_berth; then grep -q "level=debug msg=\"$FROM_EXEC" "$log"; fi
}
