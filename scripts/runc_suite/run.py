"""Running the .bats files one at a time, parsing their TAP, judging the results."""
import ctypes
import fcntl
import glob
import fnmatch
import os
import pty
import re
import signal
import subprocess
import termios
import threading
import time
from dataclasses import dataclass, field

PR_SET_CHILD_SUBREAPER = 36

TEST_LINE = re.compile(r"^(ok|not ok) (\d+) (.*?)(?: # (?:skip|SKIP)\b ?\(?(.*?)\)?| # (timeout after \d+s))?$")
PLAN_LINE = re.compile(r"^1\.\.(\d+)$")
# The start of the skip reason of a test a "!" entry of the skip list kept from running.
HUNG = "runc-suite.skip: "


@dataclass
class Test:
    name: str
    status: str  # pass, fail, skip, notrun
    detail: list = field(default_factory=list)
    listed: str = ""  # the reason, when the skip list names this test


@dataclass
class FileResult:
    file: str
    tests: list
    seconds: float
    rc: int
    timed_out: bool

    def count(self, status, listed=None):
        return sum(1 for t in self.tests
                   if t.status == status and (listed is None or bool(t.listed) == listed))


def parse_tap(text):
    """Returns (plan, [Test]) from bats --tap output."""
    plan, tests = None, []
    for line in text.splitlines():
        m = PLAN_LINE.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = TEST_LINE.match(line)
        if m:
            if m.group(1) == "not ok":
                status = "fail"
            elif " # skip" in line or " # SKIP" in line:
                status = "skip"
            else:
                status = "pass"
            tests.append(Test(m.group(3), status, [m.group(4)] if status == "skip" and m.group(4) else []))
            if m.group(5):
                tests[-1].detail.append(f"runc-suite: bats killed the test: {m.group(5)}")
        elif tests and line.startswith("#") and tests[-1].status == "fail":
            tests[-1].detail.append(line[2:] if line.startswith("# ") else line[1:])
    return plan, tests


def cgroup_layout():
    """The cgroup layout this process sees: "v2" (cgroup2 at /sys/fs/cgroup), "hybrid" (v1
    controllers plus a cgroup2 mount) or "legacy" (v1 only)."""
    mounts = [line.split(" - ", 1) for line in open("/proc/self/mountinfo")]
    v2 = [fields[0].split()[4] for fields in mounts if len(fields) == 2 and fields[1].startswith("cgroup2 ")]
    if "/sys/fs/cgroup" in v2:
        return "v2"
    return "hybrid" if v2 else "legacy"


def load_skip_list(path, layout=None):
    """Lines "FILE.bats: TEST NAME — REASON" (TEST NAME may be a glob, "*" for the whole file;
    " -- " may stand for the dash); "#" starts a comment. A line may start with "[v2]" (or
    "[hybrid]", "[legacy]", several with commas): it applies only in that cgroup layout.
    Returns [(file, pattern, reason)] for `layout` (default: this process's)."""
    layout = layout or cgroup_layout()
    entries = []  # a leading "!" (never run it: it hangs) is kept on the file name
    if not path or not os.path.exists(path):
        return entries
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(?:\[([\w,]+)\]\s*)?(!?[\w.-]+\.bats):\s*(.*?)\s+(?:—|--)\s+(.*)$", line)
        if not m:
            raise SystemExit(f"runc-suite: {path}:{n}: expected '[layout] file.bats: test name — reason'")
        only, file, pattern, reason = m.groups()
        if only and layout not in only.split(","):
            continue
        entries.append((file, pattern, reason))
    return entries


def listed_reason(entries, file, name):
    for f, pattern, reason in entries:
        if f.lstrip("!") == file and (pattern == name or fnmatch.fnmatchcase(name, pattern)):
            return reason
    return ""


def disable_hanging_tests(tree, entries):
    """Entries whose file starts with "!" name tests that hang: in the copy of the tree, their
    body starts with bats' skip, so they are reported as skipped and never run."""
    for f, pattern, reason in entries:
        if not f.startswith("!"):
            continue
        path = os.path.join(tree, f[1:])
        if not os.path.exists(path):
            continue
        text = open(path).read()

        def add_skip(m):
            if not fnmatch.fnmatchcase(m.group(1), pattern):
                return m.group(0)
            why = (HUNG + reason).replace("\\", "").replace('"', "'").replace("$", "").replace("`", "'")
            return m.group(0) + f'\n\tskip "{why}"'
        text = re.sub(r'^@test "(.*)" \{$', add_skip, text, flags=re.M)
        with open(path, "w") as fh:
            fh.write(text)


def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def _thaw(pid):
    """A process in a frozen cgroup ignores SIGKILL until the cgroup is thawed."""
    try:
        lines = open(f"/proc/{pid}/cgroup").read().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for f, value in ((f"/sys/fs/cgroup/freezer{path}/freezer.state", "THAWED"),
                         (f"/sys/fs/cgroup{path}/cgroup.freeze", "0"),
                         (f"/sys/fs/cgroup/unified{path}/cgroup.freeze", "0")):
            if (controllers == "freezer") == f.endswith("freezer.state") and os.path.exists(f):
                try:
                    with open(f, "w") as fh:
                        fh.write(value)
                except OSError:
                    pass


def reap_leftovers():
    """Kills and reaps what a file left running (re-parented to us, the subreaper)."""
    killed = 0
    for _ in range(20):
        kids = _children(os.getpid())
        if not kids:
            break
        for pid in kids:
            _thaw(pid)
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        deadline = time.time() + 2
        while time.time() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
    return killed


FREEZER_PROBE = "/sys/fs/cgroup/runc-suite-freezer-probe"


def ensure_v2_child_cgroup():
    """On cgroup v2, the suite finds the freezer by looking for any cgroup.freeze file under
    /sys/fs/cgroup, which only non-root cgroups have. A systemd host always has some; a fresh
    machine's v2 view may have none, and then the suite skips every pause, exec-while-paused
    and frozen-cgroup test. Makes one empty cgroup when there is none; returns its path (to
    remove afterwards) or None."""
    if cgroup_layout() != "v2" or glob.glob("/sys/fs/cgroup/*/cgroup.freeze"):
        return None
    os.mkdir(FREEZER_PROBE)
    return FREEZER_PROBE


def remove_test_cgroups():
    """rmdir (deepest first) the cgroups the suite names runc-cgroups-integration-test that a
    killed test left behind: a leftover child makes later tests' rmdir of the parent fail."""
    for top in glob.glob("/sys/fs/cgroup/runc-cgroups-integration-test") + \
            glob.glob("/sys/fs/cgroup/*/runc-cgroups-integration-test"):
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def _reap_zombies(exclude):
    for pid in _children(os.getpid()):
        if pid == exclude:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _controlling_tty():
    """In the child: a new session whose controlling terminal is stdin (the pty's slave)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drain(fd):
    """Reads (and drops) what is written to the terminal, so that no writer blocks on it."""
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def run_file(tree, file, runtime, timeout, test_timeout, env_extra, log_path):
    # BATS_TEST_TIMEOUT (bats >= 1.7) is off by default: its watchdog is a background job of the
    # test's shell, so the bare `wait` of events.bats waits for it and every such test times out.
    env = dict(os.environ, RUNC=runtime, **env_extra)
    if test_timeout:
        env["BATS_TEST_TIMEOUT"] = str(test_timeout)
    env.pop("BATS_RUN_TMPDIR", None)
    cmd = ["timeout", "-k", "10", str(timeout), "unshare", "-m", "--propagation", "private",
           "bats", "--tap", os.path.join(tree, file)]
    start = time.time()
    # A terminal of its own, as runc's CI gives the suite (`script`): `runc run` of a spec with
    # "terminal": true and no --console-socket opens /dev/tty. Its output still goes to the log.
    master, slave = pty.openpty()
    drain = threading.Thread(target=_drain, args=(master,), daemon=True)
    drain.start()
    with open(log_path, "w") as log:  # written as the file runs: tail -f it
        p = subprocess.Popen(cmd, cwd=tree, env=env, stdin=slave, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=_controlling_tty)
        while p.poll() is None:
            # As subreaper we inherit the orphans (`exec -d` processes, double-forked helpers):
            # reap the dead ones at once, as init would; tests wait on their pids.
            _reap_zombies(exclude=p.pid)
            time.sleep(0.1)
    os.close(slave)
    os.close(master)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        out = log.read()
    seconds = time.time() - start
    leftovers = reap_leftovers()
    remove_test_cgroups()
    plan, tests = parse_tap(out)
    timed_out = p.returncode in (124, 137)
    if plan is not None and len(tests) < plan:
        why = "timed out" if timed_out else f"bats exited {p.returncode}"
        for i in range(len(tests), plan):
            tests.append(Test(f"(test {i + 1} of {plan}: not run, {why})", "notrun"))
    elif plan is None:
        tail = out.strip().splitlines()[-5:]
        tests.append(Test("(no TAP plan: bats did not start the file)", "notrun", tail))
    if leftovers:
        with open(log_path, "a") as log:
            log.write(f"# runc-suite: killed {leftovers} leftover process(es)\n")
    return FileResult(file, tests, seconds, p.returncode, timed_out)
