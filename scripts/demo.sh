#!/bin/sh
# berth's main job on a fresh machine: install what is needed, build berth, and run a real
# busybox container through its whole life, printing each step.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
sh scripts/deps.sh
cargo build --release --quiet
berth="$repo/target/release/berth"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root="$work/state"
id=berth-demo-$$
trap '"$berth" --root "$root" delete -f "$id" 2>/dev/null; rm -rf "$work"' EXIT

sh scripts/rootfs.sh "$work/bundle/rootfs"
step() { printf '\n$ %s\n' "$*"; "$@"; }
cd "$work/bundle"
step "$berth" spec
# A detached container runs `sleep` without a terminal; spec's default is an interactive sh.
jq '.process.terminal = false | .process.args = ["sleep", "1000"]' config.json >config.tmp
mv config.tmp config.json
step "$berth" --root "$root" create --bundle . --pid-file "$work/init.pid" "$id"
step "$berth" --root "$root" state "$id"
step "$berth" --root "$root" start "$id"
step "$berth" --root "$root" exec "$id" sh -c 'echo "hello from $(hostname), pid $$"; ps'
step "$berth" --root "$root" exec -d "$id" sleep 1000
step "$berth" --root "$root" ps "$id"
step "$berth" --root "$root" list
step "$berth" --root "$root" kill "$id" KILL
echo "(kill KILL has returned: every process of $id has exited)"
step "$berth" --root "$root" ps --format json "$id"
step "$berth" --root "$root" state "$id"
step "$berth" --root "$root" delete "$id"
step "$berth" --root "$root" list
echo
echo "demo: $id went through create, start, exec, kill and delete; nothing is left behind"
