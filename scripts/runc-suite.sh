#!/bin/sh
# Run runc's own integration suite (tests/integration/*.bats of a runc source tree) against
# berth, offline. The work is done by the Python package scripts/runc_suite/.
#   scripts/runc-suite.sh --fetch DIR                  download runc's Debian source, unpack it in DIR
#   scripts/runc-suite.sh [OPTIONS] RUNC_SRC [FILE...] run the suite (all files, one at a time)
#       RUNC_SRC: runc 1.1.5 (--fetch), or a tree of runc's main branch (`git archive`): its Go
#       helpers build with Debian's golang-1.NN-go, fetched by apt-get download if need be
#   PYTHONPATH=scripts python3 -m runc_suite.report LABEL=JSONDIR...   a table of --json results
#   scripts/runc-suite.sh --help                       every option
# Ends with one "N passed, N failed, N skipped" line; exits non-zero if a test not listed in
# scripts/runc-suite.skip failed.
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec python3 -B -m runc_suite "$@"
