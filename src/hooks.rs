//! libcontainer's hook failures, told as runc tells them: which hook, and what happened to it.
//!
//! libcontainer reports a failing hook as "failed hooks hook command exited with non-zero exit
//! code: 3" (prestart and createRuntime, run by berth) or just "failed to run hooks"
//! (createContainer, run by the container's init, whose cause does not survive the trip back).
//! Neither says which hook. [`explain`] rewrites the error with the hook's kind, index and path
//! from config.json, and the cause in runc's words ("exit status 3").

use libcontainer::oci_spec::runtime::{Hook, Spec};

/// A kind of hook ("createRuntime") and config.json's hooks of that kind.
type Kind<'a> = (&'static str, &'a Option<Vec<Hook>>);

/// When the hooks ran: the command that reports their failure.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// `create` (and `run`): prestart, createRuntime (berth), createContainer (init).
    Create,
    /// `start`: poststart.
    Start,
}

/// The error, with a failing hook named; other errors unchanged.
pub fn explain(err: anyhow::Error, spec: &Spec, when: When) -> anyhow::Error {
    let Some(hooks) = spec.hooks().as_ref() else {
        return err;
    };
    let text = crate::one_line(&err);
    let said = cause(&text);
    let (kinds, cause): (Vec<Kind>, Option<String>) = match when {
        When::Create if text.contains("failed hooks ") => (
            vec![
                ("prestart", hooks.prestart()),
                ("createRuntime", hooks.create_runtime()),
            ],
            said,
        ),
        When::Create if text.contains("failed to run hooks") => {
            (vec![("createContainer", hooks.create_container())], None)
        }
        When::Start if said.is_some() => (vec![("poststart", hooks.poststart())], said),
        _ => return err,
    };
    let named = candidates(&kinds);
    let what = match named.as_slice() {
        [] => return err,
        [one] => format!("error running {one}"),
        many => format!("error running one of the hooks {}", many.join(", ")),
    };
    let cause = cause.unwrap_or_else(|| "it failed (the container's init did not say how)".into());
    let head = match when {
        When::Create => "failed to create container: ",
        When::Start => "",
    };
    anyhow::anyhow!("{head}{what}: {cause}")
}

/// "createRuntime hook #0 (/bin/sh)" for each hook of these kinds.
fn candidates(kinds: &[Kind]) -> Vec<String> {
    kinds
        .iter()
        .flat_map(|(kind, hooks)| {
            hooks
                .iter()
                .flatten()
                .enumerate()
                .map(move |(i, h)| format!("{kind} hook #{i} ({})", h.path().display()))
        })
        .collect()
}

/// libcontainer's `HookError` text in runc's words.
fn cause(text: &str) -> Option<String> {
    const EXIT: &str = "hook command exited with non-zero exit code: ";
    if let Some(at) = text.find(EXIT) {
        let code: String = text[at + EXIT.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return Some(format!("exit status {code}"));
    }
    [
        ("hook command was killed by a signal", "killed by a signal"),
        (
            "failed to execute hook command due to a timeout",
            "timed out (the hook's timeout)",
        ),
        ("failed to execute hook command", "cannot execute it"),
    ]
    .iter()
    .find(|(lib, _)| text.contains(lib))
    .map(|(_, ours)| ours.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hooks: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}},
            "hooks": hooks,
        }))
        .unwrap()
    }

    #[test]
    fn names_the_one_hook_and_its_exit_status() {
        let s = spec(serde_json::json!({"createRuntime": [{"path": "/bin/sh"}]}));
        let err = anyhow::anyhow!("failed hooks hook command exited with non-zero exit code: 3")
            .context("failed to create container");
        assert_eq!(
            explain(err, &s, When::Create).to_string(),
            "failed to create container: error running createRuntime hook #0 (/bin/sh): exit status 3"
        );
    }

    #[test]
    fn lists_the_candidates_when_several_could_have_failed() {
        let s = spec(serde_json::json!({
            "prestart": [{"path": "/a"}],
            "createRuntime": [{"path": "/b"}, {"path": "/c"}],
        }));
        let err = anyhow::anyhow!("failed hooks hook command was killed by a signal");
        assert_eq!(
            explain(err, &s, When::Create).to_string(),
            "failed to create container: error running one of the hooks prestart hook #0 (/a), \
             createRuntime hook #0 (/b), createRuntime hook #1 (/c): killed by a signal"
        );
    }

    #[test]
    fn other_errors_are_unchanged() {
        let s = spec(serde_json::json!({"createRuntime": [{"path": "/bin/sh"}]}));
        let err = anyhow::anyhow!("failed to prepare rootfs");
        assert_eq!(
            explain(err, &s, When::Create).to_string(),
            "failed to prepare rootfs"
        );
    }
}
