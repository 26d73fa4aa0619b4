//! Failures: every error phrase of CONTRACT.md, exit status 1 (255 for exec), one line on
//! stderr, nothing on stdout, the same error appended to `--log F --log-format json` as
//! `{"level":"error","msg":...,"time":<RFC 3339>}`; and bad input leaves nothing behind.
//!
//! The cases run in a few table-like tests; every failure names its case, and a test reports
//! all its failing cases at once.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;

const SENTINEL: &str = r#"{"level":"info","msg":"sentinel","time":"2000-01-01T00:00:00Z"}"#;

/// Collects failing cases and reports them together.
#[derive(Default)]
struct Cases {
    failures: Vec<String>,
    ran: usize,
}

impl Cases {
    /// Runs `berth --root ROOT --log F --log-format json ARGS...` and checks the failure: exit
    /// status `code`, nothing on stdout, exactly one line on stderr containing `phrase`, and one
    /// JSON error line appended to the log, its msg the same text.
    fn error(
        &mut self,
        case: &str,
        rt: &Runtime,
        args: &[&str],
        code: i32,
        phrase: &str,
    ) -> Output {
        self.ran += 1;
        let log = rt.dir.join(format!("log.{}", self.ran));
        fs::write(&log, format!("{SENTINEL}\n")).unwrap();
        let out = rt.run_global(
            &["--log", log.to_str().unwrap(), "--log-format", "json"],
            args,
            None,
        );
        let mut problems = Vec::new();
        if out.code != code {
            problems.push(format!("exit status {} instead of {code}", out.code));
        }
        if !out.stdout.is_empty() {
            problems.push("output on stdout".to_string());
        }
        let lines = out.stderr_lines();
        if lines.len() != 1 || !out.stderr.ends_with('\n') {
            problems.push(format!("{} lines on stderr instead of one", lines.len()));
        }
        if !out.stderr.contains(phrase) {
            problems.push(format!("stderr lacks {phrase:?}"));
        }
        problems.extend(check_log(
            &log,
            lines.first().copied().unwrap_or_default(),
            phrase,
        ));
        if !problems.is_empty() {
            self.failures
                .push(format!("case {case:?}: {}\n{out}", problems.join("; ")));
        }
        out
    }

    /// Records a failure of `case` unless `ok`.
    fn check(&mut self, case: &str, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            self.failures.push(format!("case {case:?}: {what}"));
        }
    }

    /// Nothing of `id` is left: no directory under the root but `.locks`, no cgroup directory
    /// named after it, no process in such a cgroup.
    fn nothing_left(&mut self, case: &str, rt: &Runtime, id: &str) {
        let entries = rt.root_entries();
        self.check(
            case,
            entries.is_empty(),
            format!("left under --root: {entries:?}"),
        );
        // Too short an id matches every name.
        if id.len() >= 6 {
            let left = leftovers(id, &[]);
            self.check(
                case,
                left.is_empty(),
                format!("left behind: {}", left.join("; ")),
            );
        }
    }

    #[track_caller]
    fn finish(self, what: &str) {
        eprintln!("{what}: {} cases checked", self.ran);
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} cases failed:\n\n{}",
            self.failures.len(),
            self.ran,
            self.failures.join("\n\n")
        );
    }
}

/// The log still starts with the sentinel (appended, not truncated) and ends with exactly one
/// new line: `{"level":"error","msg":M,"time":T}` with M the text on stderr, T RFC 3339.
fn check_log(log: &Path, stderr_line: &str, phrase: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&SENTINEL) {
        problems.push("log: the earlier content is gone (not appended)".to_string());
    }
    if lines.len() != 2 {
        problems.push(format!(
            "log: {} lines appended instead of one: {text:?}",
            lines.len().saturating_sub(1)
        ));
    }
    let Some(last) = lines.last().filter(|_| lines.len() >= 2) else {
        return problems;
    };
    let v: Value = match serde_json::from_str(last) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("log: last line is not JSON ({e}): {last:?}"));
            return problems;
        }
    };
    let Some(obj) = v.as_object() else {
        problems.push(format!("log: last line is not an object: {last}"));
        return problems;
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    if keys != ["level", "msg", "time"] {
        problems.push(format!("log: keys {keys:?} instead of level, msg, time"));
    }
    if v["level"] != "error" {
        problems.push(format!("log: level {} instead of \"error\"", v["level"]));
    }
    match v["msg"].as_str() {
        Some(msg) if msg.contains(phrase) && stderr_line.contains(msg) => {}
        _ => problems.push(format!("log: msg {} is not the error on stderr", v["msg"])),
    }
    match v["time"].as_str() {
        Some(t) if is_rfc3339(t) => {}
        _ => problems.push(format!("log: time {} is not RFC 3339", v["time"])),
    }
    problems
}

/// Libraries must not turn the one line into several: berth runs as on these machines.
fn runtime(name: &str) -> Runtime {
    let mut rt = Runtime::new(name);
    rt.env.push(("RUST_BACKTRACE".into(), "1".into()));
    rt
}

/// `create` with bad input: the error, and nothing left behind.
#[test]
fn create_with_bad_input_leaves_nothing() {
    let mut cases = Cases::default();

    // Invalid ids.
    let long = "a".repeat(300);
    for (case, id) in [
        ("id ../x", "../x"),
        ("id a/b", "a/b"),
        ("id .", "."),
        ("id ..", ".."),
        ("id empty", ""),
        ("id 300 chars", long.as_str()),
        ("id with space", "a b"),
        ("id with colon", "a:b"),
        ("id /abs", "/abs"),
    ] {
        let rt = runtime("bad-id");
        let b = rt.bundle(&["sleep", "1000"]);
        cases.error(
            case,
            &rt,
            &["create", "--bundle", b.path(), id],
            1,
            "invalid container ID format",
        );
        cases.nothing_left(case, &rt, id);
        // Nothing beside the root either (../x would land there).
        let mut names: Vec<String> = fs::read_dir(&rt.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("bundle") && !n.starts_with("log."))
            .collect();
        names.sort();
        cases.check(
            case,
            names.is_empty() || names == ["root"],
            format!("made {names:?} beside the bundle"),
        );
    }
    // state with an invalid id says so too.
    let rt = runtime("bad-id-state");
    cases.error(
        "state a/b",
        &rt,
        &["state", "a/b"],
        1,
        "invalid container ID format",
    );
    cases.error(
        "kill ../x",
        &rt,
        &["kill", "../x", "KILL"],
        1,
        "invalid container ID format",
    );
    cases.error(
        "delete -f ..",
        &rt,
        &["delete", "-f", ".."],
        1,
        "invalid container ID format",
    );

    // Bad bundles.
    type Edit = Box<dyn Fn(&Runtime, &mut Bundle)>;
    let config_cases: Vec<(&str, Edit, &str)> = vec![
        (
            "missing bundle",
            Box::new(|_, b| {
                fs::remove_dir_all(&b.dir).unwrap();
            }),
            "",
        ),
        (
            "no config.json",
            Box::new(|_, b| fs::remove_file(b.config_path()).unwrap()),
            "config.json",
        ),
        (
            "config.json empty",
            Box::new(|_, b| fs::write(b.config_path(), "").unwrap()),
            "config.json",
        ),
        (
            "config.json not JSON",
            Box::new(|_, b| fs::write(b.config_path(), "{ this is not json").unwrap()),
            "config.json",
        ),
        (
            "config.json wrong types (args a string)",
            Box::new(|_, b| {
                b.edit(|c| c["process"]["args"] = json!("sleep 1000"));
            }),
            "config.json",
        ),
        (
            "config.json wrong types (namespaces an object)",
            Box::new(|_, b| {
                b.edit(|c| c["linux"]["namespaces"] = json!({"type": "pid"}));
            }),
            "config.json",
        ),
        (
            "config.json missing process",
            Box::new(|_, b| {
                b.edit(|c| {
                    c.as_object_mut().unwrap().remove("process");
                });
            }),
            "process",
        ),
        (
            "config.json missing root",
            Box::new(|_, b| {
                b.edit(|c| {
                    c.as_object_mut().unwrap().remove("root");
                });
            }),
            "root",
        ),
        (
            "nonexistent executable",
            Box::new(|_, b| {
                b.edit(|c| c["process"]["args"] = json!(["/no/such/binary"]));
            }),
            "/no/such/binary",
        ),
        (
            "cgroupsPath ../../escape",
            Box::new(|_, b| {
                b.edit(|c| c["linux"]["cgroupsPath"] = json!("../../escape"));
            }),
            "cgroup",
        ),
    ];
    for (case, edit, phrase) in &config_cases {
        for cmd in ["create", "run"] {
            let case = format!("{cmd}: {case}");
            let rt = runtime("bad-config");
            let id = rt.id(cmd);
            let mut b = rt.bundle(&["sleep", "1000"]);
            edit(&rt, &mut b);
            let args: Vec<&str> = if cmd == "run" {
                vec!["run", "-d", "--bundle", b.path(), &id]
            } else {
                vec!["create", "--bundle", b.path(), &id]
            };
            cases.error(&case, &rt, &args, 1, phrase);
            cases.nothing_left(&case, &rt, &id);
            if case.contains("escape") {
                let escaped = Path::new(CGROUP_ROOT).join("escape");
                let any = walk_escape();
                cases.check(
                    &case,
                    !escaped.exists() && any.is_empty(),
                    format!("an escaping cgroup was made: {any:?}"),
                );
            }
        }
    }

    // --pid-file in a directory that does not exist.
    let rt = runtime("bad-pidfile");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let pid_file = rt.dir.join("no/such/dir/pid");
    cases.error(
        "create --pid-file in a missing directory",
        &rt,
        &[
            "create",
            "--bundle",
            b.path(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
        1,
        "",
    );
    cases.nothing_left("create --pid-file in a missing directory", &rt, &id);

    // A failing hook is named, with its exit status (libcontainer says neither).
    for (kind, phrase) in [
        (
            "prestart",
            "error running prestart hook #0 (/bin/sh): exit status 3",
        ),
        (
            "createRuntime",
            "error running createRuntime hook #0 (/bin/sh): exit status 3",
        ),
        (
            "createContainer",
            "error running createContainer hook #0 (/bin/sh)",
        ),
    ] {
        let case = format!("a {kind} hook exiting 3");
        let rt = runtime("bad-hook");
        let id = rt.id("");
        let mut b = rt.bundle(&["sleep", "1000"]);
        b.edit(|c| {
            c["hooks"] = json!({kind: [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]})
        });
        cases.error(
            &case,
            &rt,
            &["create", "--bundle", b.path(), &id],
            1,
            phrase,
        );
        cases.nothing_left(&case, &rt, &id);
    }

    // A panic (here one on purpose, once init runs and its cgroups exist: debug builds
    // only) is one line, exit status 1, and create still removes everything it made.
    if std::env::var_os("BERTH_BIN").is_none() {
        let case = "a panic after init was forked";
        let mut rt = runtime("panic");
        rt.env
            .push(("BERTH_FAULT".into(), "create:init-forked".into()));
        let id = rt.id("");
        let b = rt.bundle(&["sleep", "1000"]);
        let out = cases.error(
            case,
            &rt,
            &["create", "--bundle", b.path(), &id],
            1,
            "internal error: fault injected at create:init-forked",
        );
        cases.check(
            case,
            !out.stderr.contains("panicked") && !out.stderr.contains("backtrace"),
            format!("a Rust panic message on stderr:\n{out}"),
        );
        cases.nothing_left(case, &rt, &id);
    }

    cases.finish("create with bad input");
}

/// Directories named "escape" anywhere near the cgroup mounts (where "../../escape" would land).
fn walk_escape() -> Vec<String> {
    let mut out = Vec::new();
    for top in ["/sys/fs/cgroup", "/sys/fs", "/sys"] {
        if let Ok(entries) = fs::read_dir(top) {
            for e in entries.flatten() {
                if e.file_name() == "escape" {
                    out.push(e.path().display().to_string());
                }
                if let Ok(sub) = fs::read_dir(e.path()) {
                    for s in sub.flatten() {
                        if s.file_name() == "escape" {
                            out.push(s.path().display().to_string());
                        }
                    }
                }
            }
        }
    }
    out
}

/// The phrases callers match, against containers in every state, and the other failures of
/// each command. Containers the failures target are unharmed.
#[test]
fn error_phrases() {
    let mut cases = Cases::default();
    let rt = runtime("phrases");
    let running = rt.id("running");
    let created = rt.id("created");
    let paused = rt.id("paused");
    let stopped = rt.id("stopped");
    let missing = unique_id("phrases-missing");
    let b = rt.bundle(&strs(&sleepers(1)));
    let running_pid = rt.create_start(&running, &b);
    rt.run(&["create", "--bundle", b.path(), &created]).ok();
    rt.create_start(&paused, &b);
    rt.run(&["pause", &paused]).ok();
    rt.create_start(&stopped, &b);
    rt.run(&["kill", &stopped, "KILL"]).ok();
    let running_pids = rt.wait_for_pids(&running, 2);

    let dne = "container does not exist";
    let not_running = "container not running";
    for (case, args) in [
        ("state", vec!["state", &missing]),
        ("start", vec!["start", &missing]),
        ("kill", vec!["kill", &missing, "KILL"]),
        ("kill TERM", vec!["kill", &missing]),
        ("delete", vec!["delete", &missing]),
        ("ps", vec!["ps", &missing]),
        ("ps json", vec!["ps", "--format", "json", &missing]),
        ("pause", vec!["pause", &missing]),
        ("resume", vec!["resume", &missing]),
        ("events", vec!["events", "--stats", &missing]),
        ("update", vec!["update", "--pids-limit", "10", &missing]),
    ] {
        cases.error(
            &format!("{case} of a missing container"),
            &rt,
            &args,
            1,
            dne,
        );
    }
    cases.error(
        "exec in a missing container",
        &rt,
        &["exec", &missing, "true"],
        255,
        dne,
    );
    let out = rt.run(&["delete", "-f", &missing]);
    cases.check(
        "delete -f of a missing container",
        out.success(),
        format!("must succeed:\n{out}"),
    );

    // Unknown signals (the container is not touched).
    for sig in ["FOO", "SIGFOO", "65", "100", "KILLL", "RTMIN+99"] {
        cases.error(
            &format!("kill {sig}"),
            &rt,
            &["kill", &running, sig],
            1,
            &format!("unknown signal \"{sig}\""),
        );
    }
    cases.error(
        "kill empty signal",
        &rt,
        &["kill", &running, ""],
        1,
        "unknown signal \"\"",
    );

    // Wrong state.
    cases.error(
        "delete running",
        &rt,
        &["delete", &running],
        1,
        &format!("cannot delete container {running} that is not stopped: running"),
    );
    cases.error(
        "delete paused",
        &rt,
        &["delete", &paused],
        1,
        &format!("cannot delete container {paused} that is not stopped: paused"),
    );
    cases.error(
        "create existing",
        &rt,
        &["create", "--bundle", b.path(), &running],
        1,
        "container with given ID already exists",
    );
    cases.error(
        "run existing",
        &rt,
        &["run", "-d", "--bundle", b.path(), &running],
        1,
        "container with given ID already exists",
    );
    cases.error(
        "resume running",
        &rt,
        &["resume", &running],
        1,
        "container not paused",
    );
    cases.error(
        "resume created",
        &rt,
        &["resume", &created],
        1,
        "container not paused",
    );
    cases.error(
        "resume stopped",
        &rt,
        &["resume", &stopped],
        1,
        "container not paused",
    );
    cases.error(
        "kill stopped",
        &rt,
        &["kill", &stopped, "KILL"],
        1,
        not_running,
    );
    cases.error(
        "kill stopped TERM",
        &rt,
        &["kill", &stopped],
        1,
        not_running,
    );
    cases.error("pause stopped", &rt, &["pause", &stopped], 1, not_running);
    cases.error("pause created", &rt, &["pause", &created], 1, not_running);
    cases.error(
        "update stopped",
        &rt,
        &["update", "--pids-limit", "10", &stopped],
        1,
        not_running,
    );
    cases.error(
        "events stopped",
        &rt,
        &["events", "--stats", &stopped],
        1,
        not_running,
    );
    cases.error("start running", &rt, &["start", &running], 1, "running");
    cases.error("start stopped", &rt, &["start", &stopped], 1, "stopped");
    cases.error(
        "exec in stopped",
        &rt,
        &["exec", &stopped, "true"],
        255,
        "stopped",
    );

    // exec's own failures: 255.
    let bad_process = rt.dir.join("process.json");
    fs::write(&bad_process, "{ not json").unwrap();
    cases.error(
        "exec --process invalid JSON",
        &rt,
        &["exec", "--process", bad_process.to_str().unwrap(), &running],
        255,
        "process",
    );
    let wrong_process = rt.dir.join("process-types.json");
    fs::write(&wrong_process, r#"{"args": "true", "cwd": 5}"#).unwrap();
    cases.error(
        "exec --process wrong types",
        &rt,
        &[
            "exec",
            "--process",
            wrong_process.to_str().unwrap(),
            &running,
        ],
        255,
        "process",
    );
    cases.error(
        "exec --process missing file",
        &rt,
        &["exec", "--process", "/no/such/process.json", &running],
        255,
        "process.json",
    );
    cases.error("exec without a command", &rt, &["exec", &running], 255, "");
    let pid_file = rt.dir.join("no/such/dir/pid");
    cases.error(
        "exec -d --pid-file in a missing directory",
        &rt,
        &[
            "exec",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &running,
            "sleep",
            "1000",
        ],
        255,
        "",
    );

    // update's own failures.
    let bad_resources = rt.dir.join("resources.json");
    fs::write(&bad_resources, "{ not json").unwrap();
    cases.error(
        "update -r invalid JSON",
        &rt,
        &["update", "-r", bad_resources.to_str().unwrap(), &running],
        1,
        "JSON",
    );
    let wrong_resources = rt.dir.join("resources-types.json");
    fs::write(&wrong_resources, r#"{"pids": {"limit": "many"}}"#).unwrap();
    cases.error(
        "update -r wrong types",
        &rt,
        &["update", "-r", wrong_resources.to_str().unwrap(), &running],
        1,
        "",
    );
    cases.error(
        "update -r missing file",
        &rt,
        &["update", "-r", "/no/such/resources.json", &running],
        1,
        "/no/such/resources.json",
    );

    // Formats.
    cases.error(
        "ps --format bogus",
        &rt,
        &["ps", "--format", "bogus", &running],
        1,
        "bogus",
    );
    cases.error(
        "list --format bogus",
        &rt,
        &["list", "--format", "bogus"],
        1,
        "bogus",
    );
    cases.error(
        "checkpoint",
        &rt,
        &["checkpoint", &running],
        1,
        "not supported",
    );

    // Nothing above changed the containers.
    let st = rt.state(&running);
    cases.check(
        "afterwards",
        st["status"] == "running",
        format!("running container: {st}"),
    );
    cases.check(
        "afterwards",
        st["pid"] == running_pid,
        format!("running container: {st}"),
    );
    let now = rt.ps(&running);
    cases.check(
        "afterwards",
        now == running_pids,
        format!("running container's processes changed: {running_pids:?} -> {now:?}"),
    );
    cases.check(
        "afterwards",
        rt.status(&paused) == "paused",
        "paused container not paused",
    );
    cases.check(
        "afterwards",
        rt.status(&created) == "created",
        "created container not created",
    );
    cases.check(
        "afterwards",
        rt.status(&stopped) == "stopped",
        "stopped container not stopped",
    );
    let out = rt.run(&["kill", "--all", &stopped, "KILL"]);
    cases.check(
        "kill --all of a stopped container",
        out.success(),
        format!("must succeed:\n{out}"),
    );

    cases.finish("error phrases");
}

/// A state file that cannot be read: commands say so and change nothing; `delete -f` removes
/// the container, its processes and its cgroups. (`kill KILL` kills them all, from the
/// container's cgroups: integration/hardening.rs.)
#[test]
fn corrupt_state() {
    let mut cases = Cases::default();
    let rt = runtime("corrupt");
    let id = rt.id("");
    let b = rt.bundle(&strs(&sleepers(2)));
    rt.create_start(&id, &b);
    let snaps = snapshot(rt.wait_for_pids(&id, 3));
    assert_eq!(snaps.len(), 3);
    let state_file = rt.state_dir(&id).join("state.json");
    assert!(
        state_file.exists(),
        "no state.json in {}",
        rt.state_dir(&id).display()
    );
    fs::write(&state_file, "{ corrupt").unwrap();

    for (case, args) in [
        ("state", vec!["state", &id]),
        ("kill", vec!["kill", &id, "TERM"]),
        ("ps", vec!["ps", &id]),
        ("pause", vec!["pause", &id]),
        ("delete", vec!["delete", &id]),
        ("start", vec!["start", &id]),
    ] {
        cases.error(
            &format!("{case} with a corrupt state"),
            &rt,
            &args,
            1,
            "corrupt",
        );
    }
    let left = alive(&snaps);
    cases.check(
        "after the failures",
        left.len() == snaps.len(),
        format!(
            "only {} of {} processes alive: a failed command killed some",
            left.len(),
            snaps.len()
        ),
    );
    let out = rt.run(&["list", "-q"]);
    cases.check(
        "list with a corrupt state",
        out.success(),
        format!("list must go on:\n{out}"),
    );

    let out = rt.run(&["delete", "-f", &id]);
    cases.check(
        "delete -f with a corrupt state",
        out.success(),
        format!("must succeed:\n{out}"),
    );
    let left = leftovers(&id, &snaps);
    cases.check(
        "delete -f with a corrupt state",
        left.is_empty(),
        format!("left: {}", left.join("; ")),
    );
    cases.check(
        "delete -f with a corrupt state",
        !rt.state_dir(&id).exists(),
        "state directory left",
    );
    let out = rt.run(&["state", &id]);
    cases.check(
        "state after delete -f",
        out.code == 1 && out.stderr.contains("container does not exist"),
        format!("{out}"),
    );
    cases.finish("corrupt state");
}

/// A directory without a state file (a create that died half-way): `container does not
/// exist`, and `delete` removes the directory.
#[test]
fn half_made_container() {
    let mut cases = Cases::default();
    let rt = runtime("half-made");
    let id = rt.id("");
    fs::create_dir_all(rt.state_dir(&id)).unwrap();
    cases.error(
        "state of a half-made container",
        &rt,
        &["state", &id],
        1,
        "container does not exist",
    );
    cases.error(
        "delete of a half-made container",
        &rt,
        &["delete", &id],
        1,
        "container does not exist",
    );
    cases.check(
        "delete of a half-made container",
        !rt.state_dir(&id).exists(),
        "directory left",
    );
    fs::create_dir_all(rt.state_dir(&id)).unwrap();
    let out = rt.run(&["delete", "-f", &id]);
    cases.check(
        "delete -f of a half-made container",
        out.success(),
        format!("{out}"),
    );
    cases.check(
        "delete -f of a half-made container",
        !rt.state_dir(&id).exists(),
        "directory left",
    );
    cases.finish("half-made container");
}

/// With `--debug`, library detail goes to the log, but the last "error" line is berth's own
/// failure and stderr still has one line.
#[test]
fn debug_log_ends_with_the_error() {
    let rt = runtime("debug-log");
    let id = rt.id("");
    let mut b = rt.bundle(&["/no/such/binary"]);
    b.edit(|_| {});
    let log = rt.dir.join("debug.log");
    let out = rt.run_global(
        &[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "--debug",
        ],
        &["create", "--bundle", b.path(), &id],
        None,
    );
    out.fails_with(1);
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line on stderr:\n{out}");
    let text = fs::read_to_string(&log).unwrap();
    let errors: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}"))
        })
        .filter(|v| v["level"] == "error")
        .collect();
    let last = errors
        .last()
        .unwrap_or_else(|| panic!("no error line in the log:\n{text}"));
    let msg = last["msg"].as_str().unwrap_or_default();
    assert!(
        out.stderr.contains(msg),
        "the last error line {last} is not the error on stderr:\n{out}"
    );
    assert!(
        rt.root_entries().is_empty(),
        "left under --root: {:?}",
        rt.root_entries()
    );
    assert_nothing_left(&id, &[], "after a failed create");
}
