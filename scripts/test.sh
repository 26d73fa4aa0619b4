#!/bin/bash
# berth's whole test suite, as CI runs it (needs root):
#   unit tests; the fuzz targets' seeds and past crashes (fuzz/replay.sh); the Rust
#   integration tests and the bats suite in each cgroup layout (the machine's own, cgroup v2
#   alone, cgroup v1 alone, and "systemd": inside a systemd host booted by
#   scripts/systemd-host, with --systemd-cgroup), the bats suite once per teardown
#   wait strategy (pidfd, poll); berth under ctr, docker and podman (integration/clients.sh),
#   on the machine's own layout and inside the systemd host with the clients' systemd drivers,
#   and rootless podman there (integration/rootless-podman.sh);
#   berth as a Kubernetes runtime handler through containerd's CRI (integration/cri/), with the
#   cgroupfs driver here and the systemd driver inside the host; runc's own integration suite
#   (runc 1.1.5's, scripts/runc-suite.sh) in the machine's layout and in cgroup v2.
#   Ends with one "N passed, N failed" line.
# Environment: LAYOUTS="native v2 legacy systemd", STRATEGIES="pidfd poll" narrow the matrix;
#   SKIP_CLIENTS=1 skips the client tests, SKIP_RUNC_SUITE=1 runc's own suite.
set -u
# The suites never read the caller's stdin (a CI runner's may be anything, or closed).
exec </dev/null
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
sh scripts/deps.sh || exit 1
# The unprivileged user integration/rootless.rs runs berth as.
sh scripts/test-user.sh || exit 1
cargo build --quiet --all-targets || exit 1
view=scripts/cgroup-view
log=$(mktemp -d /tmp/berth-test.XXXXXX)
passed=0
failed=0
failures=()
# Test cgroups left by anything before this run (a manual run, another checkout) are not this
# run's leaks: the check at the end reports only new ones, and names the old ones.
test_cgroups() {
	find /sys/fs/cgroup -maxdepth 4 -type d \( -name '*:youki:*' -o -name '*bt-*' -o -name '*it-*' \) 2>/dev/null | sort
}
test_cgroups >"$log/cgroups.before"
if [ -s "$log/cgroups.before" ]; then
	echo "test cgroups that were here before the run (not counted as leaks):"
	head -5 "$log/cgroups.before"
fi

# run NAME CMD...: runs one suite, keeps its output, counts its tests.
run() {
	local name=$1
	shift
	echo "== $name ($(date +%T), $((SECONDS / 60)) min into the run)"
	"$@" 2>&1 | tee "$log/$name.out"
	local rc=${PIPESTATUS[0]}
	local p f
	p=$(grep -cE '^ok ' "$log/$name.out")
	f=$(grep -cE '^not ok ' "$log/$name.out")
	p=$((p + $(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log/$name.out" | awk '{s+=$4} END {print s+0}')))
	f=$((f + $(grep -oE '[0-9]+ failed;' "$log/$name.out" | awk '{s+=$1} END {print s+0}')))
	# A suite that prints neither TAP nor cargo's lines ends with "N passed, N failed".
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		local last
		last=$(grep -oE '^[0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -1)
		if [ -n "$last" ]; then
			p=${last%% *}
			f=$(echo "$last" | awk '{print $3}')
		fi
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$rc" -eq 0 ] || failures+=("$name")
}

run unit cargo test --quiet --lib
# The cargo-fuzz targets still build, and their seeds and past crashes run clean (fuzz/).
run fuzz-replay sh fuzz/replay.sh
# test_bin NAME: the built executable of the integration test target NAME (for the systemd
# host, which has no cargo).
test_bin() {
	cargo test --no-run --test "$1" --message-format=json 2>/dev/null |
		jq -r --arg t "$1" 'select(.executable != null and .target.name == $t) | .executable'
}
integration_bin=$(test_bin integration)
cri_bin=$(test_bin cri)

# The "systemd" layout: the same suites inside a systemd host (Debian, systemd as PID 1, pure
# cgroup v2), every container a scope unit made through systemd's D-Bus API.
systemd_layout() {
	# A fresh boot from this checkout (a host left up, or booted from another clone, goes).
	scripts/systemd-host down
	if ! scripts/systemd-host up; then
		failed=$((failed + 1))
		failures+=("systemd-host")
		return
	fi
	# The host has no compiler: the probes of integration/probes/ are built here.
	local probe="$repo/target/syscall-probe" nss_module="$repo/target/libnss_berthtest.so.2"
	gcc -static -O1 -o "$probe" integration/probes/syscall-probe.c || { failed=$((failed + 1)); failures+=("syscall probe"); }
	gcc -shared -fPIC -O1 -o "$nss_module" integration/probes/nss-module.c || { failed=$((failed + 1)); failures+=("NSS module probe"); }
	local inside=(scripts/systemd-host run -e BERTH_TEST_CGROUP_DRIVER=systemd -e BT_CGROUP_DRIVER=systemd
		-e BERTH_SYSCALL_PROBE="$probe" -e BERTH_NSS_MODULE="$nss_module")
	# The rootless tests' user, inside too (the host's /etc is a fresh overlay at each boot);
	# integration/rootless.rs enables its lingering, hence its delegated user@UID.service.
	"${inside[@]}" -- sh scripts/test-user.sh || { failed=$((failed + 1)); failures+=("systemd-host test user"); }
	run integration-systemd "${inside[@]}" -- "$integration_bin" --test-threads 2
	for strategy in ${STRATEGIES:-pidfd poll}; do
		run "bats-systemd-$strategy" "${inside[@]}" -e BERTH_WAIT="$strategy" -- bats bats/
	done
	# containerd (SystemdCgroup), docker (native.cgroupdriver=systemd), podman (cgroup_manager
	# systemd), each driving berth inside the host.
	[ -n "${SKIP_CLIENTS:-}" ] || run clients-systemd timeout -k 30 900 "${inside[@]}" \
		-e CLIENTS_CGROUP_DRIVER=systemd -e BERTH="$repo/target/debug/berth" -- bash integration/clients.sh
	# Rootless podman (the test user's, --cgroup-manager systemd) with berth as its runtime.
	[ -n "${SKIP_CLIENTS:-}" ] || run rootless-podman "${inside[@]}" \
		-e BERTH="$repo/target/debug/berth" -- sh integration/rootless-podman.sh
	# The kubelet's calls through containerd's CRI plugin, SystemdCgroup = true.
	[ -n "${SKIP_CLIENTS:-}" ] || run cri-systemd "${inside[@]}" -e BERTH_CRI_TEST_BIN="$cri_bin" \
		-e BERTH_BIN="$repo/target/debug/berth" -- bash integration/cri/run.sh
	scripts/systemd-host down
}

for layout in ${LAYOUTS:-native v2 legacy systemd}; do
	if [ "$layout" = systemd ]; then
		systemd_layout
		continue
	fi
	run "integration-$layout" "$view" "$layout" -- cargo test --quiet --test integration -- --test-threads 2
	for strategy in ${STRATEGIES:-pidfd poll}; do
		run "bats-$layout-$strategy" "$view" "$layout" -- env BERTH_WAIT="$strategy" bats bats/
	done
done

# berth as the runtime of containerd (ctr, docker) and podman; installs them from Debian.
# The suite aborts itself after CLIENTS_TIMEOUT (540 s); timeout(1) is the last resort.
[ -n "${SKIP_CLIENTS:-}" ] || run clients timeout -k 30 900 env BERTH="$repo/target/debug/berth" bash integration/clients.sh
# The kubelet's calls through containerd's CRI plugin (cgroupfs driver; its own containerd).
[ -n "${SKIP_CLIENTS:-}" ] || run cri env BERTH_CRI_TEST_BIN="$cri_bin" bash integration/cri/run.sh

# runc's own integration suite (runc 1.1.5, from Debian's source package), in the machine's
# layout and in pure cgroup v2: fails on any test not listed in scripts/runc-suite.skip.
if [ -z "${SKIP_RUNC_SUITE:-}" ]; then
	runc_src=$(sh scripts/runc-suite.sh --fetch /var/cache/berth/runc-src | tail -1)
	suite=(sh scripts/runc-suite.sh --timeout 180 --runtime "$repo/target/debug/berth")
	run runc-suite-native "${suite[@]}" --deps "$runc_src"
	run runc-suite-v2 "$view" v2 -- "${suite[@]}" "$runc_src"
fi

leftover=$(test_cgroups | comm -13 "$log/cgroups.before" - | head -5)
if [ -n "$leftover" ]; then
	echo "leaked cgroups after the suites:"
	echo "$leftover"
	failed=$((failed + 1))
	failures+=("leak-check")
fi
rm -rf "$log"
[ ${#failures[@]} -eq 0 ] || echo "failing suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
