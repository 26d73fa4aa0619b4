"""A Go toolchain new enough for the tree's go.mod, offline except for Debian's archive.

runc 1.1.5 builds with the host's Go (Debian bookworm: 1.19). runc's main branch wants a newer
Go (go.mod's `go 1.25.0`) than bookworm has: Debian ships golang-1.NN-go in newer suites
and backports (statically linked, so it runs on bookworm). It is fetched with apt-get download
through a private source list (the host's Debian archive with the suites in SUITES; the
system's apt state is not touched), unpacked with dpkg-deb -x into DIR/go-1.NN, and used with
GOTOOLCHAIN=local (never Go's own toolchain download).
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

# Suites searched for golang-1.NN-go, besides the host's own (override: $RUNC_SUITE_GO_SUITES).
SUITES = ["bookworm-backports", "trixie", "trixie-backports"]
# How many minor versions above go.mod's to try (Debian may lack the exact one).
NEWER = 3


def _version(text):
    m = re.search(r"go(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def wanted(src):
    """(major, minor) of go.mod's go directive, or None (no go.mod: GOPATH mode, any Go)."""
    path = os.path.join(src, "go.mod")
    if not os.path.exists(path):
        return None
    m = re.search(r"(?m)^go\s+(\d+)\.(\d+)", open(path).read())
    return (int(m.group(1)), int(m.group(2))) if m else None


def go_version(go):
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True,
                             env=dict(os.environ, GOTOOLCHAIN="local")).stdout
    except OSError:
        return None
    return _version(out)


def _debian_uri():
    """The URI of the host's Debian archive, read from its apt sources."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        text = open(path).read()
        for stanza in text.split("\n\n"):
            uris = re.search(r"(?m)^URIs:\s*(\S+)", stanza)
            suites = re.search(r"(?m)^Suites:\s*(.*)$", stanza)
            if uris and suites and not re.search(r"-security\b", suites.group(1)) and "debian" in uris.group(1):
                return uris.group(1)
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.exists(path):
            for line in open(path):
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and "debian" in parts[1] and "security" not in parts[2]:
                    return parts[1]
    return None


def _download(major, minor, dest):
    """apt-get download golang-M.N-go and -src (a private list of SUITES), unpack into dest.
    Returns dest/usr/lib/go-M.N/bin/go, or raises RuntimeError."""
    uri = _debian_uri()
    if uri is None:
        raise RuntimeError("no Debian archive in the host's apt sources")
    suites = os.environ.get("RUNC_SUITE_GO_SUITES", " ".join(SUITES))
    tmp = tempfile.mkdtemp(prefix="runc-suite-go.")
    try:
        parts, lists, cache = (os.path.join(tmp, d) for d in ("parts", "lists", "cache"))
        for d in (parts, os.path.join(lists, "partial"), os.path.join(cache, "archives/partial")):
            os.makedirs(d)
        with open(os.path.join(parts, "go.sources"), "w") as f:
            f.write(f"Types: deb\nURIs: {uri}\nSuites: {suites}\nComponents: main\n"
                    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        opts = ["-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::Etc::sourceparts={parts}",
                "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={cache}",
                "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                "-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root"]
        r = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("apt-get update: " + (r.stderr.strip().splitlines() or ["failed"])[-1])
        for m in range(minor, minor + NEWER + 1):
            pkgs = [f"golang-{major}.{m}-go", f"golang-{major}.{m}-src"]
            r = subprocess.run(["apt-get", *opts, "download", *pkgs], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                continue
            staging = dest + ".tmp"
            shutil.rmtree(staging, ignore_errors=True)
            for deb in glob.glob(os.path.join(tmp, "*.deb")):
                subprocess.run(["dpkg-deb", "-x", deb, staging], check=True)
            go = os.path.join(dest, f"usr/lib/go-{major}.{m}/bin/go")
            shutil.rmtree(dest, ignore_errors=True)
            os.rename(staging, dest)
            return go
        raise RuntimeError(f"no golang-{major}.{minor}..{minor + NEWER}-go in {suites}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def go_for(src, cache_dir):
    """The go binary to build src's helpers with: the host's when new enough, else a Debian
    golang-1.NN-go under cache_dir (downloaded once). Raises RuntimeError when there is none."""
    need = wanted(src)
    host = shutil.which("go")
    if need is None or (host and (go_version(host) or (0, 0)) >= need):
        if host is None:
            raise RuntimeError("no go on PATH (apt-get install golang-go)")
        return host
    for go in sorted(glob.glob(os.path.join(cache_dir, "go-*/usr/lib/go-*/bin/go"))):
        if (go_version(go) or (0, 0)) >= need:
            return go
    os.makedirs(cache_dir, exist_ok=True)
    return _download(need[0], need[1], os.path.join(cache_dir, f"go-{need[0]}.{need[1]}"))
