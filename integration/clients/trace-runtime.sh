#!/bin/bash
# Logging shim for the runtime under test (clients.sh installs it with CLIENTS_TRACE=1).
# clients.sh copies this file next to the runtime it wraps, under the runtime's own name (podman
# decides by name whether a runtime takes --log-format json), and sets the two paths below.
# Each call appends one record to the trace log: time, duration, exit status, argv (shell-quoted),
# and — for subcommands whose stdio is not handed to a container process — stdin, stdout and stderr.
# create/run/exec keep their stdio untouched: the runtime gives it to the container's process.
real=@REAL@
log=@LOG@

# The subcommand: the first word that is neither a global flag nor a global flag's value.
sub='' logfile='' i=0 args=("$@")
while [ $i -lt ${#args[@]} ]; do
	a=${args[$i]}
	case $a in
	--log) logfile=${args[$((i + 1))]}; i=$((i + 2)) ;;
	--log=*) logfile=${a#--log=}; i=$((i + 1)) ;;
	--root | --log-format | --criu | --rootless) i=$((i + 2)) ;;
	-*) i=$((i + 1)) ;;
	*) sub=$a; break ;;
	esac
done

start=$(date +%s.%N)
quoted=$(printf '%q ' "$@")
case $sub in
create | run | exec | "")
	"$real" "$@"
	rc=$?
	io=
	;;
*)
	tmp=$(mktemp -d /tmp/trace-runtime.XXXXXX)
	if [ "$sub" = update ] && [[ " $* " == *" - "* || " $* " == *"--resources=- "* ]]; then
		# update reads its resources from stdin (`--resources -`): keep a copy.
		cat >"$tmp/in"
		"$real" "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	else
		"$real" "$@" >"$tmp/out" 2>"$tmp/err"
	fi
	rc=$?
	cat "$tmp/out"
	cat "$tmp/err" >&2
	io=
	for f in in out err; do
		[ -s "$tmp/$f" ] && io+="  $f: $(head -c 4000 "$tmp/$f" | sed '2,$s/^/       /')"$'\n'
	done
	rm -rf "$tmp"
	;;
esac
# A failure's explanation, as the client reads it back from --log.
if [ "$rc" -ne 0 ] && [ -n "$logfile" ] && [ -s "$logfile" ]; then
	io+="  log: $(tail -n 3 "$logfile" | sed '2,$s/^/       /')"$'\n'
fi
end=$(date +%s.%N)
dur=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
printf '%s pid=%s ppid=%s(%s) rc=%s %ss: %s\n%s' "$(date +%T.%3N)" "$$" "$PPID" \
	"$(tr -d '\n' </proc/$PPID/comm 2>/dev/null)" "$rc" "$dur" "$quoted" "$io" >>"$log"
exit $rc
