"""Command line: see scripts/runc-suite.sh and __init__.py."""
import argparse
import fcntl
import json
import os
import subprocess
import sys
import time

from . import helpers, prepare, run

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SCRIPTS)


def default_runtime():
    if os.environ.get("RUNC"):
        return os.environ["RUNC"]
    berth = os.path.join(REPO, "target/release/berth")
    if not os.path.exists(berth):
        print("runc-suite: building berth (cargo build --release)", flush=True)
        subprocess.run(["cargo", "build", "--release"], cwd=REPO, check=True)
    return berth


def parse_args(argv):
    p = argparse.ArgumentParser(prog="runc-suite.sh", description=__doc__)
    p.add_argument("--fetch", metavar="DIR", help="download runc's Debian source into DIR, unpack it, print its path, exit")
    p.add_argument("--deps", action="store_true", help="apt-get install the packages the suite needs first")
    p.add_argument("--runtime", help="the runtime to test (default: $RUNC, else target/release/berth)")
    p.add_argument("--timeout", type=int, default=300, help="seconds for one .bats file (default 300)")
    p.add_argument("--test-timeout", type=int, default=0,
                   help="seconds for one test (BATS_TEST_TIMEOUT; default 0: off, it breaks events.bats)")
    p.add_argument("--skip-list", default=os.path.join(SCRIPTS, "runc-suite.skip"),
                   help="failures by design (default scripts/runc-suite.skip)")
    p.add_argument("--work", help="work directory (default /tmp/runc-suite/NAME-OF-RUNC_SRC)")
    p.add_argument("--systemd", action="store_true", help="set RUNC_USE_SYSTEMD=1 (--systemd-cgroup)")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="print every failure's output")
    p.add_argument("src", nargs="?", metavar="RUNC_SRC", help="a runc source tree")
    p.add_argument("files", nargs="*", metavar="FILE", help="files of tests/integration (default: all *.bats)")
    return p.parse_args(argv)


def run_files(tree, files, runtime, args, env, logs, skips):
    """Runs each file, printing a line of counts per file. Returns (results, seconds)."""
    start = time.time()
    results = []
    print(f"{'file':32} {'pass':>5} {'fail':>5} {'skip':>5} {'listed':>6} {'secs':>6}", flush=True)
    for file in files:
        r = run.run_file(tree, file, runtime, args.timeout, args.test_timeout, env, os.path.join(logs, file + ".tap"))
        for t in r.tests:
            t.listed = run.listed_reason(skips, file, t.name) if t.status in ("fail", "notrun", "pass") else ""
        results.append(r)
        failed = sum(1 for t in r.tests if t.status in ("fail", "notrun") and not t.listed)
        listed = sum(1 for t in r.tests if t.status in ("fail", "notrun") and t.listed)
        print(f"{file:32} {r.count('pass'):5} {failed:5} {r.count('skip'):5} {listed:6} {r.seconds:6.0f}"
              + ("  TIMEOUT" if r.timed_out else ""), flush=True)
    return results, time.time() - start


def main(argv):
    args = parse_args(argv)
    if args.deps:
        prepare.install_packages()
    if args.fetch:
        print(prepare.fetch(os.path.abspath(args.fetch)))
        if not args.src:
            return 0
    if not args.src:
        print("usage: runc-suite.sh [OPTIONS] RUNC_SRC [FILE...] | --fetch DIR", file=sys.stderr)
        return 2
    missing = prepare.missing_commands()
    if missing:
        print(f"runc-suite: missing {' '.join(missing)}: run with --deps (apt-get install)", file=sys.stderr)
        return 2
    src = os.path.abspath(args.src)
    runtime = os.path.abspath(args.runtime or default_runtime())
    name = os.path.basename(src.rstrip("/"))
    work = os.path.abspath(args.work or os.path.join("/tmp/runc-suite", name))
    os.makedirs(work, exist_ok=True)
    # One run at a time per work directory: each run lays the test tree anew.
    lock = open(os.path.join(work, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"runc-suite: waiting for the run that holds {work}/.lock", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    logs = os.path.join(work, "logs", time.strftime("%Y%m%d-%H%M%S") + "-" + os.path.basename(runtime))
    os.makedirs(logs, exist_ok=True)

    build_errors = helpers.build(src, work, os.path.join(logs, "helpers-build.log"))
    for helper, err in build_errors.items():
        print(f"runc-suite: {helper} not built ({err}): its tests fail", flush=True)
    tree = prepare.test_tree(src, work, os.path.join(os.path.dirname(work), "images"))
    files = [os.path.basename(f) for f in args.files] or sorted(f for f in os.listdir(tree) if f.endswith(".bats"))
    skips = run.load_skip_list(args.skip_list)
    run.disable_hanging_tests(tree, skips)
    subreaper = run.become_subreaper()
    env = {"RUNC_USE_SYSTEMD": "1"} if args.systemd else {}
    print(f"runc-suite: {runtime} on {tree} ({len(files)} files, timeout {args.timeout}s a file, "
          f"subreaper {'on' if subreaper else 'off'}, logs in {logs})", flush=True)

    probe = run.ensure_v2_child_cgroup()
    try:
        results, elapsed = run_files(tree, files, runtime, args, env, logs, skips)
    finally:
        if probe:
            os.rmdir(probe)

    unexpected, by_design, surprises = [], [], []
    for r in results:
        for t in r.tests:
            if t.status in ("fail", "notrun"):
                (by_design if t.listed else unexpected).append((r.file, t))
            elif t.status == "pass" and t.listed:
                surprises.append((r.file, t))
    if by_design:
        print(f"\nfailed by design ({len(by_design)}, listed in {args.skip_list}):")
        for file, t in by_design:
            print(f"  {file}: {t.name} — {t.listed}")
    if surprises:
        print(f"\nlisted as failing by design but passed ({len(surprises)}):")
        for file, t in surprises:
            print(f"  {file}: {t.name} — {t.listed}")
    if unexpected:
        print(f"\nFAILED ({len(unexpected)}):")
        for file, t in unexpected:
            print(f"  {file}: {t.name}")
            if args.verbose:
                for line in t.detail[-40:]:
                    print(f"      {line}")
    passed = sum(r.count("pass") for r in results)
    skipped = sum(r.count("skip") for r in results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runtime": runtime, "src": src, "seconds": round(elapsed),
                       "files": [{"file": r.file, "seconds": round(r.seconds), "rc": r.rc, "timed_out": r.timed_out,
                                  "tests": [vars(t) for t in r.tests]} for r in results]}, f, indent=1)
    print(f"\nruntime {runtime}, {len(files)} files in {elapsed:.0f}s; logs in {logs}")
    print(f"skipped: {skipped} by bats (the suite's requires, or '!' entries of the list), {len(by_design)} failures by design")
    print(f"{passed} passed, {len(unexpected)} failed, {skipped + len(by_design)} skipped")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
