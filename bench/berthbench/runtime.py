"""A runtime as the worker calls it (Runtime: binary, --root, environment, global arguments) and
what one timed call of it gives (CallResult); the call itself is Containers.call.
"""


class Runtime:
    def __init__(self, name, binary, root, use_all_on_host=True, env=None, global_args=()):
        self.name = name
        self.binary = binary
        self.root = root
        self.use_all_on_host = use_all_on_host
        self.env = env  # extra environment variables, or None
        self.global_args = tuple(global_args)  # e.g. --systemd-cgroup

    def argv(self, *args):
        return [self.binary, "--root", self.root, *self.global_args, *args]


class CallResult:
    __slots__ = ("ok", "rc", "ms", "msg", "timed_out", "stale", "gone_ms", "alive_after", "maxrss",
                 "at_return")

    def __init__(self):
        self.ok = False
        self.rc = None
        self.ms = None
        self.msg = ""
        self.timed_out = False
        self.stale = None  # watched processes still alive when the command returned
        self.gone_ms = None  # from the command's start until every watched process had exited
        self.alive_after = 0  # watched processes still alive at the end of the bounded wait
        self.maxrss = None  # KiB, the runtime's ru_maxrss (only for call(..., mem=True))
        self.at_return = None  # what call(..., at_return=f) got from f() right at the return
