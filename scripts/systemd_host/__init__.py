"""scripts/systemd-host: a booted Debian systemd host for the test suites (see that script)."""
