"""The benchmark harness behind bench/bench.py (see its docstring for the method), as a package
of small modules: common (paths, constants, clock and log), stats (medians and cell formats),
cgroups, runtime (Runtime, CallResult), the worker (worker.py, combining containers.py with one
module per measured phase: lifecycle, create_state, teardown, memory, scaling), driver, the
Markdown report (report.py, sections.py), svg, cli, and the systemd layout (systemd_layout.py,
systemd_report.py, dbus.py).
"""
