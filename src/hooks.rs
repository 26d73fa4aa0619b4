//! libcontainer's hook failures, told as runc tells them: which hook, and what happened to it;
//! and the `startContainer` hooks, which berth runs itself ([`StartContainer`]).
//!
//! libcontainer reports a failing hook as "failed hooks hook command exited with non-zero exit
//! code: 3" (prestart and createRuntime, run by berth) or just "failed to run hooks"
//! (createContainer, run by the container's init, whose cause does not survive the trip back).
//! Neither says which hook. [`explain`] rewrites the error with the hook's kind, index and path
//! from config.json, and the cause in runc's words ("exit status 3").

use std::io::Write as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use libcontainer::oci_spec::runtime::{ContainerState, Hook, Spec, State, StateBuilder};

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

/// The config's `startContainer` hooks, run by berth in the container's init once `start` has
/// let it go, after its seccomp filter is loaded and just before it executes the program, as
/// runc runs them (berth takes them out of the config libcontainer reads: libcontainer runs
/// them at the same place but only logs a failure, and the init then exits 255 with nothing
/// said). A failing hook stops the init: runc's line goes to the process's stderr, where the
/// caller of `run` sees it.
#[derive(Clone)]
pub struct StartContainer {
    hooks: Vec<Hook>,
    /// The container's state as the hooks get it on stdin (the pid is init's, set in init).
    state: State,
}

impl StartContainer {
    /// The hooks of `spec` for container `id` of bundle `bundle` (the caller's); `None` when
    /// there are none.
    pub fn new(spec: &Spec, id: &str, bundle: &Path) -> anyhow::Result<Option<StartContainer>> {
        let hooks = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().clone())
            .unwrap_or_default();
        if hooks.is_empty() {
            return Ok(None);
        }
        let state = oci_state(
            id,
            ContainerState::Created,
            None,
            bundle,
            spec.annotations(),
        )?;
        Ok(Some(StartContainer { hooks, state }))
    }

    /// In the container's init: runs the hooks in order, each with the container's state on
    /// stdin and, when it gives none, the process's environment. The first failure, in runc's
    /// words, on the process's stderr too.
    pub fn run(&self) -> Result<(), String> {
        let mut state = self.state.clone();
        state.set_pid(Some(std::process::id() as i32));
        let text = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
        for (i, hook) in self.hooks.iter().enumerate() {
            if let Err(cause) = run_one(hook, &text) {
                // runc 1.1's "error running hook #N: error running hook: CAUSE" and later
                // runc's "error running startContainer hook #N: CAUSE" in one line.
                let line = format!("error running startContainer hook #{i}: {cause}");
                let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
                return Err(line);
            }
        }
        Ok(())
    }
}

/// The container's state as the runtime spec describes it to hooks and the seccomp agent.
pub fn oci_state(
    id: &str,
    status: ContainerState,
    pid: Option<i32>,
    bundle: &Path,
    annotations: &Option<std::collections::HashMap<String, String>>,
) -> anyhow::Result<State> {
    let mut state = StateBuilder::default()
        .version(libcontainer::oci_spec::runtime::VERSION)
        .id(id.to_string())
        .status(status)
        .bundle(bundle.to_path_buf())
        .annotations(annotations.clone().unwrap_or_default())
        .build()?;
    state.set_pid(pid);
    Ok(state)
}

/// Runs one hook to its end (or its timeout); runc's description of a failure.
fn run_one(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some((arg0, rest)) = hook.args().as_ref().and_then(|a| a.split_first()) {
        cmd.arg0(arg0).args(rest);
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for kv in env {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("fork/exec {}: {}", hook.path().display(), os_error_text(&e)))?;
    let pidfd = rustix::process::Pid::from_raw(child.id() as i32).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    let stdin = child.stdin.take();
    let timeout = hook.timeout().map(|t| Duration::from_secs(t.max(0) as u64));
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let (output, timed_out) = std::thread::scope(|s| {
        // A hook that never reads its stdin must not hold the init up.
        s.spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(state);
            }
        });
        let timer = timeout.map(|limit| {
            s.spawn(move || {
                let expired = matches!(
                    finished.recv_timeout(limit),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                if expired {
                    if let Some(fd) = &pidfd {
                        let _ =
                            rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
                    }
                }
                expired
            })
        });
        let output = child.wait_with_output();
        drop(done);
        let timed_out = timer.is_some_and(|t| t.join().unwrap_or(false));
        (output, timed_out)
    });
    let output = output.map_err(|e| format!("error running hook: {}", os_error_text(&e)))?;
    if timed_out {
        let secs = timeout.unwrap_or_default().as_secs_f64();
        return Err(format!("hook ran past specified timeout of {secs:.1}s"));
    }
    if output.status.success() {
        return Ok(());
    }
    let status = &output.status;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => {
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("signal: {}{core}", signal_text(sig))
        }
        (None, None) => "it failed".to_string(),
    };
    Err(format!(
        "error running hook: {how}, stdout: {}, stderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// An OS error as Go words it: the C library's text with a lower-case first letter.
pub fn os_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => lower_first(nix::errno::Errno::from_raw(n).desc()),
        None if e.kind() == std::io::ErrorKind::NotFound => "no such file or directory".into(),
        None => e.to_string(),
    }
}

/// A signal's description as Go words it ("bad system call", "killed").
fn signal_text(sig: i32) -> String {
    // SAFETY: strsignal returns a string the C library owns; it is copied at once (this process
    // has no other thread calling it).
    let desc = unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return format!("signal {sig}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    lower_first(&desc)
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
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
