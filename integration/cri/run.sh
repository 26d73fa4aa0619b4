#!/bin/bash
# The CRI suite (integration/cri/main.rs): berth as a RuntimeClass handler of containerd 1.6's CRI
# plugin, next to Debian's runc. Needs root. Installs containerd, runc and busybox-static from
# Debian when missing (the daemons' start is forbidden meanwhile, as in clients.sh); the suite
# itself starts and tears down a private containerd per wait strategy.
#   integration/cri/run.sh [FILTER...]        on this machine (cgroupfs driver)
#   scripts/systemd-host run -e BERTH_CRI_TEST_BIN=... -- bash integration/cri/run.sh
#                                             inside the systemd host (systemd driver; no cargo
#                                             there: pass the test executable, see below)
# Environment: BERTH_CRI_TEST_BIN (the built test executable; default: built and located with
# cargo), BERTH_BIN (default target/debug/berth), BERTH_CRI_STRATEGIES, BERTH_CRI_DRIVER, ... (main.rs).
set -u
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
exec </dev/null
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null || [ ! -x /usr/sbin/runc ] || [ ! -x /bin/busybox ]; then
	echo "# cri: installing containerd runc busybox-static"
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1
	fi
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=120 install -y -q \
		--no-install-recommends containerd runc busybox-static >/tmp/berth-cri-apt.log 2>&1 ||
		tail -n 5 /tmp/berth-cri-apt.log
	[ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
fi
bin=${BERTH_CRI_TEST_BIN:-}
if [ -z "$bin" ]; then
	bin=$(cargo test --no-run --test cri --message-format=json 2>/dev/null |
		jq -r 'select(.executable != null and .target.name == "cri") | .executable') || exit 1
	[ -x "$bin" ] || { echo "cri: cannot build the test (cargo test --no-run --test cri)" >&2; exit 1; }
fi
export BERTH_BIN=${BERTH_BIN:-$repo/target/debug/berth}
# The suite tears down on SIGTERM; KILL 30 s later is the last resort.
exec timeout -k 30 600 "$bin" "$@"
