#!/bin/sh
# Coverage-guided fuzzing of the JSON files berth reads from its callers, through what berth
# checks and prepares before it makes anything (src/fuzzing.rs): config.json (`config`) and
# `exec --process` (`exec_process`). Needs a nightly toolchain (rustup toolchain install
# nightly) and cargo-fuzz (installed here if missing). On demand, not in CI: CI runs the
# structured fuzz of the real binary (integration/fuzz/).
#
#   sh fuzz/run.sh [SECONDS [TARGET...]]   default: 600 s each, every target (one per
#                                          directory of fuzz/seeds/)
#
# Debug assertions are on, so an arithmetic overflow counts as a crash; a crash's input is
# saved in fuzz/artifacts/TARGET/.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-600}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- $(ls fuzz/seeds)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in "$@"; do
	mkdir -p "fuzz/corpus/$target"
	cp "fuzz/seeds/$target"/*.json "fuzz/corpus/$target/"
	cargo +nightly fuzz run -O -a "$target" "fuzz/corpus/$target" -- \
		-dict=fuzz/config.dict -max_len=16384 -max_total_time="$seconds" -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1
done
