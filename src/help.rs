//! How berth describes itself, from its clap definitions: `-h` and `help TOPIC` in runc's
//! layout (`NAME:`, `USAGE:`, `OPTIONS:` sections).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Command;

/// The name berth gives itself in help, whatever its file is called.
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
}
