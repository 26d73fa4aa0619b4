#!/usr/bin/env bats
# scripts/install.sh, what a packager runs: the binary, one man page per command plus berth(8), and
# completions for bash, zsh and fish that name every command. berth only.

load helpers

setup() {
	bt_setup
	is_berth || skip "berth's install script ($RUNTIME is not berth)"
	STAGE=$BT_DIR/stage
	PREFIX=/usr
	TOP=$STAGE$PREFIX
}

# commands: what `berth -h` lists under COMMANDS, but help.
commands() {
	rt -h | awk '/^COMMANDS:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' | grep -vx help
}

install_berth() {
	"$REPO/scripts/install.sh" --prefix "$PREFIX" --destdir "$STAGE" --bin "$RUNTIME" "$@"
}

@test "install.sh: the binary and one man page per command, plus berth(8)" {
	run install_berth
	[ "$status" -eq 0 ]
	cmp "$RUNTIME" "$TOP/bin/berth"
	[ -x "$TOP/bin/berth" ]

	local cmds cmd pages
	cmds=$(commands)
	[ "$(wc -w <<<"$cmds")" -ge 16 ]
	for cmd in $cmds; do
		[ -f "$TOP/share/man/man8/berth-$cmd.8" ] || {
			echo "no man page for $cmd" >&2
			return 1
		}
		# A page about that command: its title, and its synopsis.
		grep -q "^\.TH BERTH-$(tr "[:lower:]" "[:upper:]" <<<"$cmd") 8" "$TOP/share/man/man8/berth-$cmd.8"
		grep -q "berth $cmd" "$TOP/share/man/man8/berth-$cmd.8"
	done
	[ -f "$TOP/share/man/man8/berth.8" ]
	# Nothing else: no page for hidden commands (generate) or for help.
	pages=$(find "$TOP/share/man/man8" -type f | wc -l)
	[ "$pages" -eq $(($(wc -w <<<"$cmds") + 1)) ]
	# berth(8) has the global options and refers to every command's page (roff escapes "-" as "\-").
	grep -qF '\-\-root' "$TOP/share/man/man8/berth.8"
	for cmd in $cmds; do
		grep -qF "berth\-$cmd(8)" "$TOP/share/man/man8/berth.8"
	done
	# groff renders every page without a warning.
	if command -v groff >/dev/null; then
		for page in "$TOP"/share/man/man8/*.8; do
			[ -z "$(groff -man -Tutf8 -ww -z "$page" 2>&1)" ] || {
				groff -man -Tutf8 -ww -z "$page" >&2
				return 1
			}
		done
	fi
}

@test "install.sh: the bash completion offers every command, and only those" {
	run install_berth
	[ "$status" -eq 0 ]
	local script=$TOP/share/bash-completion/completions/berth
	[ -f "$script" ]
	# Complete `berth <TAB>` and `berth --root DIR <TAB>` the way bash does.
	local offered cmd
	offered=$(bash -c '
		source "$1"
		complete -p berth >/dev/null || exit 1
		COMP_WORDS=(berth ""); COMP_CWORD=1; _berth berth "" berth
		printf "%s\n" "${COMPREPLY[@]}"' _ "$script")
	for cmd in $(commands); do
		grep -qx "$cmd" <<<"$offered" || {
			echo "bash completion does not offer $cmd: $offered" >&2
			return 1
		}
	done
	run ! grep -qx generate <<<"$offered"
	# A command's own options.
	offered=$(bash -c 'source "$1"; COMP_WORDS=(berth kill ""); COMP_CWORD=2; _berth berth "" kill
		printf "%s\n" "${COMPREPLY[@]}"' _ "$script")
	grep -qx -- --all <<<"$offered"
}

@test "install.sh: zsh and fish completions name every command" {
	run install_berth
	[ "$status" -eq 0 ]
	local zsh=$TOP/share/zsh/site-functions/_berth fish=$TOP/share/fish/vendor_completions.d/berth.fish cmd
	head -n 1 "$zsh" | grep -q '^#compdef berth'
	for cmd in $(commands); do
		grep -q "^'$cmd:" "$zsh" || {
			echo "zsh completion lacks $cmd" >&2
			return 1
		}
		grep -q -- "-a \"$cmd\"" "$fish" || {
			echo "fish completion lacks $cmd" >&2
			return 1
		}
	done
	run ! grep -q generate "$zsh" "$fish"
}

@test "install.sh: a missing binary installs nothing" {
	run "$REPO/scripts/install.sh" --prefix "$PREFIX" --destdir "$STAGE" --bin "$BT_DIR/no-such-berth"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cargo build --release"* ]]
	[ ! -e "$STAGE" ]
}
