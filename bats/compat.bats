#!/usr/bin/env bats
# What runc's own integration suite checks and berth once did differently (see also
# integration/compat.rs).

load helpers

@test "exec -p /dev/fd/N: a process file from a shell's process substitution" {
	new_id
	run_detached "$ID"
	local process='{"args": ["/bin/echo", "from a pipe"], "cwd": "/", "terminal": false}'
	status=0
	output=$(rt exec -p <(echo "$process") "$ID" </dev/null 2>"$BT_DIR/err") || status=$?
	[ "$status" -eq 0 ] || {
		echo "exec failed ($status): $(cat "$BT_DIR/err")" >&2
		return 1
	}
	[ "$output" = "from a pipe" ]
}

@test "run with a terminal: the relayed output has no carriage returns (ONLCR off, as runc)" {
	new_id
	cfg '.process.terminal = true'
	set_script 'echo one; echo two'
	status=0
	rt run --bundle "$BUNDLE" "$ID" </dev/null >"$BT_DIR/out" 2>"$BT_DIR/err" || status=$?
	[ "$status" -eq 0 ] || {
		echo "run failed ($status): $(cat "$BT_DIR/err")" >&2
		return 1
	}
	[ "$(od -An -c "$BT_DIR/out" | tr -s ' ')" = " o n e \n t w o \n" ]
}
