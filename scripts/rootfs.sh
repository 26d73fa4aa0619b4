#!/bin/sh
# Build a busybox root filesystem for test bundles.
#   scripts/rootfs.sh DIR
# DIR/bin/busybox (a copy of the static /bin/busybox), one symlink per applet in DIR/bin,
# /etc/passwd and /etc/group with root and nobody, and empty proc sys dev tmp etc root.
# Idempotent: exits at once when DIR/bin/busybox is already the same binary as /bin/busybox.
# The tree is built beside DIR and renamed into place, so concurrent callers never see half of it.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
busybox=${BUSYBOX:-/bin/busybox}

if [ ! -x "$busybox" ]; then
	echo "rootfs.sh: $busybox not found: apt-get install busybox-static" >&2
	exit 1
fi
# A dynamically linked busybox would not run inside the rootfs.
if command -v ldd >/dev/null 2>&1 && ldd "$busybox" >/dev/null 2>&1; then
	echo "rootfs.sh: $busybox is dynamically linked: apt-get install busybox-static" >&2
	exit 1
fi

if [ -f "$dir/bin/busybox" ] && cmp -s "$busybox" "$dir/bin/busybox"; then
	exit 0
fi

mkdir -p "$(dirname "$dir")"
tmp=$(mktemp -d "$dir.new.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir -p "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/etc" "$tmp/root"
chmod 1777 "$tmp/tmp"
chmod 700 "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
chmod 755 "$tmp/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$tmp/bin/$applet"
done
cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
chmod 755 "$tmp"

# Swap the new tree in; an old (stale) tree is removed after the rename.
old=
if [ -e "$dir" ]; then
	old=$(mktemp -d "$dir.old.XXXXXX")
	mv "$dir" "$old/"
fi
mv "$tmp" "$dir"
trap - EXIT INT TERM
[ -z "$old" ] || rm -rf "$old"
