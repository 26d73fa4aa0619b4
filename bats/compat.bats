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

@test "run: a program whose execve fails after start is reported in runc's one line" {
	new_id
	printf '#!/no/such/interpreter\necho never\n' >"$SHARED/run.sh"
	chmod +x "$SHARED/run.sh"
	set_args /tmp/run.sh
	rt_quiet run --bundle "$BUNDLE" "$ID"
	[ "$status" -ne 0 ]
	[ "$stderr" = "exec /tmp/run.sh: no such file or directory" ]
}

@test "exec: a program whose execve fails is reported in runc's one line" {
	new_id
	printf '#!/no/such/interpreter\necho never\n' >"$SHARED/run.sh"
	chmod +x "$SHARED/run.sh"
	run_detached "$ID"
	rt_quiet exec "$ID" /tmp/run.sh
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"exec /tmp/run.sh: no such file or directory" ]]
}

@test "HOME is / for a user without a passwd entry (run and exec --user)" {
	new_id
	cfg '.process.user.uid = 4242 | .process.env |= map(select(startswith("HOME=") | not))'
	set_script 'echo "HOME=$HOME"'
	must run --bundle "$BUNDLE" "$ID"
	[ "$output" = "HOME=/" ]
	new_id b
	set_args sleep 1000
	cfg '.process.user.uid = 0'
	run_detached "$ID"
	must exec --user 4242 "$ID" sh -c 'echo "HOME=$HOME"'
	[ "$output" = "HOME=/" ]
	must exec "$ID" sh -c 'echo "HOME=$HOME"'
	[ "$output" = "HOME=/root" ]
}

@test "a program only its owner may execute runs as another user with CAP_DAC_OVERRIDE" {
	new_id
	printf '#!/bin/sh\necho ran\n' >"$SHARED/owner-only"
	chown 0:0 "$SHARED/owner-only"
	chmod 0744 "$SHARED/owner-only"
	cfg '.process.user.uid = 1000 | .process.user.gid = 100'
	set_args /tmp/owner-only
	rt_quiet run --bundle "$BUNDLE" "$ID"
	[ "$status" -ne 0 ]
	[ "$output" != "ran" ]
	cfg '.process.capabilities |= with_entries(.value += ["CAP_DAC_OVERRIDE"])'
	new_id b
	must run --bundle "$BUNDLE" "$ID"
	[ "$output" = "ran" ]
}

# The capability sets of /proc/self/status in the container, one "CapXxx:<tab>HEX" a line.
cap_lines() {
	grep '^Cap' <<<"$output"
}

@test "an unknown capability name in config.json is ignored, as runc does" {
	new_id
	cfg '.process.capabilities.bounding += ["CAP_UNKNOWN", "UNKNOWN_CAP"]'
	set_args cat /proc/self/status
	must run --bundle "$BUNDLE" "$ID"
	[[ "$output" == *"NoNewPrivs:"* ]]
}

@test "exec --cap takes config.json's names; ambient too when the config has inheritable ones" {
	new_id
	cfg '.process.capabilities = {}'
	run_detached "$ID"
	must exec --cap CAP_KILL --cap CAP_AUDIT_WRITE "$ID" cat /proc/self/status
	cap_lines | grep -qx 'CapPrm:	0000000020000020'
	cap_lines | grep -qx 'CapEff:	0000000020000020'
	cap_lines | grep -qx 'CapAmb:	0000000000000000'
	new_id b
	cfg '.process.capabilities = {bounding: ["CAP_KILL", "CAP_SYSLOG"], permitted: ["CAP_KILL"],
		effective: ["CAP_KILL"], inheritable: ["CAP_SYSLOG"]}'
	run_detached "$ID"
	must exec --cap CAP_SYSLOG "$ID" cat /proc/self/status
	cap_lines | grep -qx 'CapPrm:	0000000400000020'
	cap_lines | grep -qx 'CapAmb:	0000000400000000'
}

@test "inheritable capabilities outside the permitted set (runc sets them all at once)" {
	new_id
	cfg '.process.capabilities = {bounding: ["CAP_KILL", "CAP_CHOWN", "CAP_SYSLOG"],
		permitted: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL"],
		inheritable: ["CAP_CHOWN", "CAP_SYSLOG"], ambient: ["CAP_CHOWN"]}'
	set_args cat /proc/self/status
	must run --bundle "$BUNDLE" "$ID"
	cap_lines | grep -qx 'CapInh:	0000000400000001'
	cap_lines | grep -qx 'CapPrm:	0000000000000021'
	cap_lines | grep -qx 'CapAmb:	0000000000000001'
	new_id b
	set_args sleep 1000
	run_detached "$ID"
	must exec "$ID" cat /proc/self/status
	cap_lines | grep -qx 'CapInh:	0000000400000001'
	cap_lines | grep -qx 'CapAmb:	0000000000000001'
}

@test "a process without PATH runs with its environment as given (exec -p, run)" {
	new_id
	run_detached "$ID"
	local process='{"args": ["env"], "cwd": "/", "env": ["FOO=bar"]}'
	echo "$process" >"$BT_DIR/process.json"
	must exec -p "$BT_DIR/process.json" "$ID"
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "FOO=bar HOME=/root " ]
	new_id b
	cfg '.process.env = ["FOO=bar"]'
	set_args env
	must run --bundle "$BUNDLE" "$ID"
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "FOO=bar HOME=/root " ]
}

@test "a mount destination given as the rootfs's host path names that place in the container" {
	new_id
	cfg --arg dest "$ROOTFS/tmp/./sub" '.mounts += [{destination: $dest, type: "tmpfs", source: "tmpfs"}]'
	set_args cat /proc/self/mounts
	must run --bundle "$BUNDLE" "$ID"
	grep -q '^tmpfs /tmp/sub tmpfs ' <<<"$output"
}

@test "a bind mount through a dangling symbolic link makes its target in the rootfs, as runc does" {
	new_id
	cp -a "$ROOTFS" "$BT_DIR/rootfs"
	cfg --arg r "$BT_DIR/rootfs" '.root.path = $r'
	rm -f "$BT_DIR/rootfs/etc/hosts"
	ln -s /var/foo/bar "$BT_DIR/rootfs/jump"
	ln -s /jump/baz/hosts "$BT_DIR/rootfs/etc/hosts"
	echo from-the-host >"$BT_DIR/hosts"
	cfg --arg src "$BT_DIR/hosts" '.mounts += [{destination: "/etc/hosts", type: "bind", source: $src, options: ["bind"]}]'
	set_args cat /var/foo/bar/baz/hosts
	must run --bundle "$BUNDLE" "$ID"
	[ "$output" = "from-the-host" ]
	[ -f "$BT_DIR/rootfs/var/foo/bar/baz/hosts" ]
}

@test "a tmpfs over a directory of the rootfs takes the directory's mode unless it gives mode=" {
	new_id
	cp -a "$ROOTFS" "$BT_DIR/rootfs"
	cfg --arg r "$BT_DIR/rootfs" '.root.path = $r'
	mkdir "$BT_DIR/rootfs/over" "$BT_DIR/rootfs/given"
	chmod 'a=rwx,ug+s,+t' "$BT_DIR/rootfs/over"
	cfg '.mounts += [{destination: "/over", type: "tmpfs", source: "tmpfs", options: ["nosuid"]},
		{destination: "/given", type: "tmpfs", source: "tmpfs", options: ["mode=0444"]},
		{destination: "/new", type: "tmpfs", source: "tmpfs"}]'
	set_script 'stat -c "%n %a" /over /given /new'
	must run --bundle "$BUNDLE" "$ID"
	[ "$(echo $output)" = "/over 7777 /given 444 /new 1777" ]
}

@test "checkpoint checks --parent-path as runc does before it would call CRIU" {
	new_id
	run_detached "$ID"
	rt_quiet checkpoint --parent-path "$BT_DIR/parent" --image-path "$BT_DIR/image" "$ID"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"--parent-path must be relative"* ]]
	rt_quiet checkpoint --parent-path ./parent --image-path "$BT_DIR/image" "$ID"
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"invalid --parent-path"* ]]
}

@test "a bind mount has the flags its options ask for, not the source's (none asked: the source's)" {
	new_id
	mkdir "$BT_DIR/src"
	mount --bind "$BT_DIR/src" "$BT_DIR/src"
	mount -o remount,bind,ro,noexec "$BT_DIR/src"
	set_script 'awk "\$2 == \"/mnt\" { print \$4 }" /proc/self/mounts'
	cfg --arg src "$BT_DIR/src" '.mounts += [{destination: "/mnt", type: "bind", source: $src, options: ["bind", "nosuid"]}]'
	rt_quiet run --bundle "$BUNDLE" "$ID"
	local status1=$status asked=$output
	new_id b
	cfg '.mounts[-1].options = ["bind"]'
	rt_quiet run --bundle "$BUNDLE" "$ID"
	local kept=$output
	umount "$BT_DIR/src"
	[ "$status1" -eq 0 ] && [ "$status" -eq 0 ]
	echo "asked: $asked; kept: $kept" >&2
	[[ ",$asked," == *,rw,* && ",$asked," == *,nosuid,* && ",$asked," != *,noexec,* ]]
	[[ ",$kept," == *,ro,* && ",$kept," == *,noexec,* ]]
}

@test "an idmapped bind mount (libcontainer 0.7 refuses them): its files' ids seen through the mapping" {
	new_id
	mkdir "$BT_DIR/idsrc"
	touch "$BT_DIR/idsrc/file"
	chown 1:2 "$BT_DIR/idsrc/file"
	cfg --arg src "$BT_DIR/idsrc" '.mounts += [{destination: "/mnt", type: "bind", source: $src,
		options: ["bind", "idmap"],
		uidMappings: [{containerID: 0, hostID: 100000, size: 65536}],
		gidMappings: [{containerID: 0, hostID: 100000, size: 65536}]}]'
	set_args stat -c '%u:%g' /mnt/file
	must run --bundle "$BUNDLE" "$ID"
	# On disk 1:2; the mount shows ids of the mapping's namespace as the host's ids they map to.
	[ "$output" = "100001:100002" ]
	# Nothing of berth's is left mounted on the host.
	! grep -q "$BT_DIR/idsrc" /proc/self/mountinfo
}

@test "a bind mount's propagation option is applied (libcontainer ignores it)" {
	new_id
	mkdir "$BT_DIR/psrc"
	cfg --arg src "$BT_DIR/psrc" '.mounts += [{destination: "/mnt", type: "bind", source: $src, options: ["rbind", "shared"]}]'
	set_script 'grep " /mnt " /proc/self/mountinfo'
	must run --bundle "$BUNDLE" "$ID"
	[[ "$output" == *" shared:"* ]]
}

@test "the process's environment is in the config's order, HOME last when the config has none" {
	new_id
	cfg '.process.env = ["ZED=1", "PATH=/usr/bin:/bin", "ALPHA=2", "MID=3"]'
	set_args env
	for _ in 1 2 3; do
		must run --bundle "$BUNDLE" "$ID"
		[ "$(echo $output)" = "ZED=1 PATH=/usr/bin:/bin ALPHA=2 MID=3 HOME=/root" ]
		rt delete -f "$ID" >/dev/null 2>&1 || true
	done
}
