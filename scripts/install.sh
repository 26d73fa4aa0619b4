#!/bin/sh
# Install berth: the binary, its man pages (section 8) and its bash, zsh and fish completions.
#
#   cargo build --release && sudo scripts/install.sh             # into /usr/local
#   scripts/install.sh --prefix /usr --destdir "$pkgdir"         # staged, for a package
#
# Options (or the environment variables PREFIX, DESTDIR, BERTH_BIN):
#   --prefix DIR    where it goes (default /usr/local)
#   --destdir DIR   prepended to every path, for staging a package (default: none)
#   --bin FILE      the binary to install (default target/release/berth of this repository)
#
# What it writes, under DESTDIR/PREFIX:
#   bin/berth
#   share/man/man8/berth.8 and berth-COMMAND.8, one per command
#   share/bash-completion/completions/berth
#   share/zsh/site-functions/_berth
#   share/fish/vendor_completions.d/berth.fish
# The pages and scripts come from the binary itself (`berth generate man DIR`,
# `berth generate completion SHELL`), so they always describe the binary installed.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
bin=${BERTH_BIN:-$repo/target/release/berth}

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--bin) bin=${2:?--bin needs a file}; shift 2 ;;
	--bin=*) bin=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ ! -x "$bin" ]; then
	echo "install.sh: $bin not found: build it first (cargo build --release) or name it with --bin" >&2
	exit 1
fi

root=$destdir$prefix
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# Generate everything first: nothing is installed if the binary cannot describe itself.
"$bin" generate man "$work/man" >/dev/null
"$bin" generate completion bash >"$work/berth.bash"
"$bin" generate completion zsh >"$work/_berth"
"$bin" generate completion fish >"$work/berth.fish"

install -D -m 0755 "$bin" "$root/bin/berth"
install -d "$root/share/man/man8"
install -m 0644 "$work"/man/*.8 "$root/share/man/man8/"
install -D -m 0644 "$work/berth.bash" "$root/share/bash-completion/completions/berth"
install -D -m 0644 "$work/_berth" "$root/share/zsh/site-functions/_berth"
install -D -m 0644 "$work/berth.fish" "$root/share/fish/vendor_completions.d/berth.fish"

echo "installed berth $("$bin" --version | sed -n '1s/^berth version //p') in $root"
