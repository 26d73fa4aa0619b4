#!/bin/sh
# Installs what building and testing berth needs on a fresh Debian machine (as root):
# a Rust toolchain must already be there (rustup); everything else comes from Debian.
#   busybox-static  the root filesystem of every test container
#   libseccomp-dev, pkg-config  libseccomp, linked statically (libseccomp.a; .cargo/config.toml)
#   gcc, libc6-dev  static C probes the tests run inside containers (and runc's suite builds)
#   bats, jq        the bats suite
#   runc, crun      the runtimes berth is compared with (bats against runc/crun, benchmarks)
#   uidmap          newuidmap/newgidmap: rootless containers mapping more than one id
#   protobuf-compiler  the CRI suite's gRPC client (k8s-cri) is generated with protoc at build time
set -eu
need=
for pkg in busybox-static gcc libc6-dev libseccomp-dev pkg-config protobuf-compiler bats jq runc crun util-linux procps uidmap; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if [ -n "$need" ]; then
	echo "deps: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq $need >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo not found: install Rust with rustup" >&2; exit 1; }
