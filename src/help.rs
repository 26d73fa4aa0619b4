//! How berth describes itself, all from its clap definitions: `-h` and `help TOPIC` in runc's
//! layout (`NAME:`, `USAGE:`, `OPTIONS:` sections), the man pages (section 8) and the shell
//! completion scripts that packagers install.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Command;
use clap_complete::Shell;

/// The name berth gives itself in help, man pages and completions, whatever its file is called.
pub const NAME: &str = "berth";

/// `cmd` and its subcommands with runc's help layout: the name and a line about it, the usage,
/// then the arguments, subcommands and options, each under a heading in capitals.
pub fn layout(cmd: Command) -> Command {
    layout_one(cmd.bin_name(NAME), NAME)
}

/// `path`: how the command is called (`berth`, `berth list`).
fn layout_one(cmd: Command, path: &str) -> Command {
    let root = path == NAME;
    let mut template = format!("NAME:\n   {path} - {{about}}\n\nUSAGE:\n   {{usage}}\n");
    if cmd.get_positionals().any(|a| !a.is_hide_set()) {
        template.push_str("\nARGUMENTS:\n{positionals}\n");
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        template.push_str("\nCOMMANDS:\n{subcommands}\n");
    }
    // Every command has at least -h.
    template.push_str(if root {
        "\nGLOBAL OPTIONS:\n{options}\n"
    } else {
        "\nOPTIONS:\n{options}\n"
    });
    cmd.help_template(template).mut_subcommands(|sub| {
        let path = format!("{path} {}", sub.get_name());
        layout_one(sub, &path)
    })
}

/// The topic of `berth help TOPIC` or `berth TOPIC -h` when there is no such command: runc
/// answers `No help topic for 'TOPIC'`, and so does berth.
pub fn unknown_topic(err: &clap::Error, args: &[OsString]) -> Option<String> {
    if err.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let asks_help = args
        .iter()
        .skip(1)
        .any(|a| a == "-h" || a == "--help" || a == "help");
    if !asks_help {
        return None;
    }
    match err.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(topic)) => Some(topic.clone()),
        _ => None,
    }
}

/// Writes `berth.8` and one `berth-COMMAND.8` per visible subcommand into `dir` (created if
/// missing); returns their paths.
pub fn write_man_pages(cmd: Command, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = cmd.bin_name(NAME).disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_man_page(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_man_page(cmd: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    use clap_mangen::roff::{bold, roman, Roff};
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("8")
        .source(format!("{NAME} {}", env!("CARGO_PKG_VERSION")))
        .manual("System Manager's Manual");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("cannot render {}", path.display()))?;
    if name != NAME {
        // The global options (--root, --log, ...) come before the command: berth(8) has them.
        let mut see_also = Roff::new();
        see_also.control("SH", ["SEE ALSO"]).text([
            bold(NAME),
            roman("(8), for the global options, given before the command"),
        ]);
        page.extend_from_slice(see_also.to_roff().as_bytes());
    }
    fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_page(sub, dir, written)?;
    }
    Ok(())
}

/// Writes the completion script of `shell` for berth to `out`.
pub fn write_completion(cmd: Command, shell: Shell, out: &mut dyn Write) -> Result<()> {
    // clap_complete offers hidden subcommands too: complete a copy without them.
    let visible: Vec<Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut cmd = Command::new(NAME)
        .about(cmd.get_about().cloned().unwrap_or_default())
        .disable_version_flag(true)
        .args(cmd.get_arguments().cloned())
        .subcommands(visible);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, NAME, &mut script);
    out.write_all(&script)
        .context("cannot write the completion script")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_commands() -> Vec<String> {
        crate::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn every_command_has_runc_help_layout() {
        let mut root = crate::command();
        let help = root.render_help().to_string();
        assert!(help.starts_with(&format!("NAME:\n   {NAME} - ")), "{help}");
        assert!(!help.contains("generate"), "hidden command listed:\n{help}");
        for name in visible_commands() {
            let mut root = crate::command();
            root.build();
            let sub = root.find_subcommand_mut(&name).unwrap();
            let help = sub.render_help().to_string();
            assert!(
                help.starts_with(&format!("NAME:\n   {NAME} {name} - ")),
                "{name}:\n{help}"
            );
            assert!(help.contains("\nUSAGE:\n   "), "{name}:\n{help}");
            assert!(help.contains("\nOPTIONS:\n"), "{name}:\n{help}");
        }
    }

    #[test]
    fn unknown_topic_only_when_help_is_asked() {
        let args = |a: &[&str]| -> Vec<OsString> { a.iter().map(OsString::from).collect() };
        for asked in [&["berth", "foo", "-h"][..], &["berth", "help", "foo"]] {
            let err = crate::command()
                .try_get_matches_from(args(asked))
                .unwrap_err();
            assert_eq!(
                unknown_topic(&err, &args(asked)).as_deref(),
                Some("foo"),
                "{asked:?}"
            );
        }
        let plain = args(&["berth", "foo"]);
        let err = crate::command().try_get_matches_from(&plain).unwrap_err();
        assert_eq!(unknown_topic(&err, &plain), None);
    }

    #[test]
    fn one_man_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(crate::command(), dir.path()).unwrap();
        let mut expected: Vec<String> = visible_commands()
            .iter()
            .map(|c| format!("{NAME}-{c}.8"))
            .collect();
        expected.push(format!("{NAME}.8"));
        expected.sort();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, expected);
        assert_eq!(written.len(), expected.len());
        let kill = fs::read_to_string(dir.path().join(format!("{NAME}-kill.8"))).unwrap();
        assert!(kill.contains(".TH BERTH-KILL 8"), "{kill}");
        assert!(kill.contains(".SH \"SEE ALSO\""), "{kill}");
    }

    #[test]
    fn completions_name_every_command() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            write_completion(crate::command(), shell, &mut script).unwrap();
            let script = String::from_utf8(script).unwrap();
            for name in visible_commands() {
                assert!(script.contains(&name), "{shell}: no {name}");
            }
            assert!(
                !script.contains("generate"),
                "{shell}: hidden command offered"
            );
        }
    }
}
