#!/bin/sh
# The fuzz targets built with the stable toolchain (no coverage instrumentation; a debug build,
# so arithmetic overflow panics) and run once over each of their seeds and each input that
# once crashed them (fuzz/regressions/TARGET/): a panic fails. CI runs this so that the
# targets keep building and old crashes stay fixed; fuzz/run.sh is the fuzzing itself.
set -u
cd "$(dirname "$0")"
cargo build --quiet --bins || exit 1
n=0
failed=0
# A target per directory of seeds/ (each is a [[bin]] of Cargo.toml).
for target in $(ls seeds); do
	for input in seeds/"$target"/* regressions/"$target"/*; do
		[ -f "$input" ] || continue
		n=$((n + 1))
		if out=$(target/debug/"$target" "$input" 2>&1); then
			echo "ok $n $target $input"
		else
			failed=$((failed + 1))
			echo "not ok $n $target $input"
			echo "$out" | grep -E "panicked|overflow|ERROR" | head -5 | sed 's/^/# /'
		fi
	done
done
[ "$failed" -eq 0 ]
