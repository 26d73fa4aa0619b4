"""A markdown table of results kept with --json, one column group per run.

    PYTHONPATH=scripts python3 -m runc_suite.report LABEL=PATH [LABEL=PATH...] > results.md

Each PATH is a --json file, or a directory of them, of one runtime in one layout (one or more
.bats files each; in a directory, a newer file's result for the same .bats file wins). The table has a row per
.bats file: its number of tests, then passed/failed/skipped for each LABEL (failures of tests
listed in the skip list count as failed here: the table is what bats said; so do tests a "!"
entry kept from running because they hang, noted "(N hung)"). With an even
number of LABELs, the first half (e.g. berth native, berth v2) is compared with the second
(runc native, runc v2) position by position: the tests the first fails and the second passes.
"""
import glob
import json
import os
import sys

from .run import HUNG


def load(where):
    """{file: result} from a JSON file, or from every *.json of a directory (oldest first)."""
    results = {}
    paths = [where] if os.path.isfile(where) else glob.glob(os.path.join(where, "*.json"))
    for path in sorted(paths, key=os.path.getmtime):
        with open(path) as f:
            for r in json.load(f)["files"]:
                results[r["file"]] = r
    return results


def hung(test):
    """A test the skip list's "!" entries kept from running (it hangs): a failure here."""
    return test["status"] == "skip" and any(d.startswith(HUNG) for d in test["detail"])


def failed(test):
    return test["status"] in ("fail", "notrun") or hung(test)


def counts(result):
    """(passed, failed, skipped, of the failed: hung) or None."""
    if result is None:
        return None
    tests = result["tests"]
    return (sum(t["status"] == "pass" for t in tests),
            sum(failed(t) for t in tests),
            sum(t["status"] == "skip" and not hung(t) for t in tests),
            sum(hung(t) for t in tests))


def table(runs):
    """runs: [(label, {file: result})]. Returns markdown lines."""
    files = sorted(set().union(*(r.keys() for _, r in runs)))
    head = "| file | tests | " + " | ".join(f"{label} pass/fail/skip" for label, _ in runs) + " |"
    lines = [head, "|" + "---|" * (2 + len(runs))]
    totals = [[0, 0, 0, 0] for _ in runs]
    all_tests = 0
    for file in files:
        n = max(len(r[file]["tests"]) for _, r in runs if file in r)
        all_tests += n
        cells = []
        for i, (_, r) in enumerate(runs):
            c = counts(r.get(file))
            if c is None:
                cells.append("—")
                continue
            totals[i] = [a + b for a, b in zip(totals[i], c)]
            cells.append("/".join(map(str, c[:3])) + (f" ({c[3]} hung)" if c[3] else "")
                         + (" (timeout)" if r[file].get("timed_out") else ""))
        lines.append(f"| {file} | {n} | " + " | ".join(cells) + " |")
    lines.append(f"| **total** | {all_tests} | " + " | ".join("/".join(map(str, t[:3])) + (f" ({t[3]} hung)" if t[3] else "") for t in totals) + " |")
    return lines


def regressions(ours, theirs):
    """[(file, test name)] that theirs passes and ours fails."""
    out = []
    for file in sorted(set(ours) & set(theirs)):
        passed = {t["name"] for t in theirs[file]["tests"] if t["status"] == "pass"}
        out += [(file, t["name"]) for t in ours[file]["tests"] if failed(t) and t["name"] in passed]
    return out


def main(argv):
    runs = []
    for arg in argv:
        label, _, where = arg.partition("=")
        if not where or not os.path.exists(where):
            print(__doc__, file=sys.stderr)
            return 2
        runs.append((label, load(where)))
    if not runs:
        print(__doc__, file=sys.stderr)
        return 2
    print("\n".join(table(runs)))
    half = len(runs) // 2
    for (ours, our), (theirs, their) in zip(runs[:half], runs[half:]) if len(runs) % 2 == 0 else []:
        lost = regressions(our, their)
        print(f"\n{len(lost)} tests {theirs} passes and {ours} fails:\n")
        for file, name in lost:
            print(f"- {file}: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
