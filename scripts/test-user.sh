#!/bin/sh
# Makes the unprivileged user the rootless tests run berth as (integration/rootless.rs), if it
# is not there yet: `berthtest` (or $1), no login, no home, with 65536 subordinate uids and gids
# in /etc/subuid and /etc/subgid (after every range listed there). Idempotent; needs root.
set -eu
user=${1:-berthtest}
if ! id -u "$user" >/dev/null 2>&1; then
	useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi
for file in /etc/subuid /etc/subgid; do
	touch "$file"
	grep -q "^$user:" "$file" && continue
	start=$(awk -F: 'BEGIN { end = 100000 } { if ($2 + $3 > end) end = $2 + $3 } END { print end }' "$file")
	echo "$user:$start:65536" >>"$file"
done
