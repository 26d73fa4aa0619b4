"""The command line: the options (the driver's, and the hidden ones of the per-layout worker)
and main, which runs a worker, only rebuilds the report, or drives a whole run.
"""

import argparse
import json
import os
import sys

from .common import DEFAULT_BERTH, HERE, WORKER_LAYOUTS
from .driver import driver_main, write_outputs
from .worker import worker_main


def parse_args(argv, doc):
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20, help="lifecycle trials per runtime (default 20)")
    ap.add_argument("--create-trials", type=int, default=15,
                    help="create trials per runtime after a quiet spell and right after an attach "
                         "(default 15, 0 skips)")
    ap.add_argument("--teardown-trials", type=int, default=5,
                    help="teardown trials per N, PID namespace and mode (default 5)")
    ap.add_argument("--layout", choices=WORKER_LAYOUTS + ("all",), default="native",
                    help="native, v2, legacy (this machine, under scripts/cgroup-view), all (those "
                         "three), or systemd (inside scripts/systemd-host, --systemd-cgroup; alone)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",") if x != ""],
                    default=None, help="extra processes per container (default 0,10,100,1000; "
                                       "systemd: 0,1000)")
    ap.add_argument("--runtimes", default="",
                    help="comma-separated subset of berth,runc,crun (default: per layout; crun in legacy only)")
    ap.add_argument("--berth", default=DEFAULT_BERTH, help="berth binary (default target/release/berth)")
    ap.add_argument("--no-noall", action="store_true", help="skip berth's plain `kill` in a host PID namespace")
    ap.add_argument("--mem-trials", type=int, default=5,
                    help="peak-memory trials per runtime (create/start/state/kill/delete under GNU time; "
                         "default 5, 0 skips)")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip timing state/list/ps with 1, 10, 100 containers")
    ap.add_argument("--scaling-n", type=lambda s: [int(x) for x in s.split(",") if x != ""],
                    default=[1, 10, 100], help="containers per runtime for the scaling test (default 1,10,100)")
    ap.add_argument("--scaling-trials", type=int, default=5,
                    help="timed list/state/ps calls per runtime and container count (default 5)")
    ap.add_argument("--call-timeout", type=float, default=30.0, help="seconds before a runtime call is killed")
    ap.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for N+1 processes")
    ap.add_argument("--worker-timeout", type=float, default=3600.0, help="seconds per layout worker")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--report", metavar="RAW_JSON",
                    help="only rebuild RESULTS.md and the SVGs in --out from an earlier raw.json")
    # internal: the per-layout worker
    ap.add_argument("--worker", choices=WORKER_LAYOUTS, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--raw", help=argparse.SUPPRESS)
    ap.add_argument("--tag", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None, doc=""):
    args = parse_args(sys.argv[1:] if argv is None else argv, doc)
    if args.worker:
        return worker_main(args)
    if args.report:
        with open(args.report) as f:
            data = json.load(f)
        write_outputs(data, os.path.abspath(args.out))
        return 0
    return driver_main(args)
