//! The ordinary life of a container: create, start, exec, ps, pause, resume, kill, delete; run
//! in the foreground and detached; list, state, spec, features, version, update, events.

use serde_json::Value;
use std::fs;

use crate::common::*;

#[track_caller]
fn assert_gone_state(rt: &Runtime, id: &str) {
    let out = rt.run(&["state", id]);
    out.fails_with(1);
    assert!(
        out.stderr.contains("container does not exist"),
        "state of a deleted container:\n{out}"
    );
}

#[test]
fn full_lifecycle() {
    let rt = Runtime::new("lifecycle");
    let id = rt.id("");
    let mut b = rt.bundle(&["sleep", "1000"]);
    // root.path relative to the bundle, through the bundle's `rootfs` symlink.
    b.edit(|c| c["root"]["path"] = serde_json::json!("rootfs"));
    let init_pid_file = rt.dir.join("init.pid");

    // create: nothing on stdout, the pid file holds init's pid alone.
    let out = rt.run(&[
        "create",
        "--bundle",
        b.path(),
        "--pid-file",
        init_pid_file.to_str().unwrap(),
        &id,
    ]);
    out.ok();
    assert_eq!(out.stdout, "", "create printed on stdout:\n{out}");
    assert_eq!(out.stderr, "", "create printed on stderr:\n{out}");

    // state: indented JSON and nothing else.
    let out = rt.run(&["state", &id]);
    out.ok();
    assert_eq!(out.stderr, "", "state printed on stderr:\n{out}");
    assert!(
        out.stdout.starts_with("{\n  \""),
        "state must be indented JSON:\n{out}"
    );
    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str(), "{st}");
    let init = st["pid"].as_i64().unwrap_or(0) as i32;
    assert!(init > 0, "created container has no pid: {st}");
    assert_eq!(
        fs::read_to_string(&init_pid_file).unwrap(),
        init.to_string(),
        "create --pid-file must hold the bare pid"
    );
    let bundle = fs::canonicalize(&b.dir).unwrap();
    assert_eq!(st["bundle"], bundle.to_str().unwrap(), "{st}");
    assert!(st["ociVersion"].is_string(), "{st}");
    assert_eq!(
        st["rootfs"],
        fs::canonicalize(rootfs()).unwrap().to_str().unwrap(),
        "state's rootfs is the canonical root.path: {st}"
    );
    assert!(st.get("owner").is_some(), "state has no owner: {st}");
    let created = st["created"].as_str().unwrap_or_default();
    assert!(is_rfc3339(created), "created is not RFC 3339: {created:?}");
    assert!(
        st.get("annotations").is_none(),
        "empty annotations must be omitted: {st}"
    );
    let cgroups = cgroup_dirs_with(&id);
    assert!(!cgroups.is_empty(), "a created container has cgroups");

    // start
    let out = rt.run(&["start", &id]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(rt.status(&id), "running");
    assert_eq!(rt.pid(&id), init);

    // exec in the foreground: its output and exit status.
    let out = rt.run(&["exec", &id, "sh", "-c", "echo hello; echo oops >&2; exit 7"]);
    assert_eq!(
        out.code, 7,
        "exec must exit with the process's status:\n{out}"
    );
    assert_eq!(out.stdout, "hello\n", "{out}");
    assert_eq!(out.stderr, "oops\n", "{out}");

    // exec of a process killed by a signal: 128+N.
    let out = rt.run(&["exec", &id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.code, 137, "exec of a process killed by SIGKILL:\n{out}");

    // exec with --env and --cwd
    let out = rt.run(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd",
    ]);
    out.ok();
    assert_eq!(out.stdout, "bar\n/tmp\n", "{out}");

    // exec -d --pid-file: a bare number, no newline.
    let exec_pid_file = rt.dir.join("exec.pid");
    let out = rt.run(&[
        "exec",
        "-d",
        "--pid-file",
        exec_pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    let text = fs::read_to_string(&exec_pid_file).unwrap();
    assert!(
        !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()),
        "exec --pid-file must hold a bare number, got {text:?}"
    );
    let exec_pid: i32 = text.parse().unwrap();

    // ps -f json: both processes, as a JSON array of ints, nothing on stderr.
    let out = rt.run(&["ps", "-f", "json", &id]);
    out.ok();
    assert_eq!(out.stderr, "", "ps printed on stderr:\n{out}");
    let pids: Vec<i32> = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps json is not an array of ints ({e}):\n{out}"));
    assert!(pids.contains(&init), "ps lacks init {init}: {pids:?}");
    assert!(
        pids.contains(&exec_pid),
        "ps lacks exec'd {exec_pid}: {pids:?}"
    );
    // ps as a table: a header with PID, init's line.
    let out = rt.run(&["ps", &id]);
    out.ok();
    let mut lines = out.stdout.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.split_whitespace().any(|c| c == "PID")),
        "ps table has no PID header:\n{out}"
    );
    assert!(
        lines.any(|l| l.split_whitespace().any(|c| c == init.to_string())),
        "ps table lacks init {init}:\n{out}"
    );

    // pause / resume
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    rt.run(&["resume", &id]).ok();
    assert_eq!(rt.status(&id), "running");

    // kill KILL: synchronous, every process gone at once.
    let snaps = snapshot(pids.iter().copied());
    let out = rt.run(&["kill", &id, "KILL"]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_all_gone(&snaps, "after kill KILL");
    let st = rt.state(&id);
    assert_eq!(st["status"], "stopped", "{st}");
    assert_eq!(st["pid"], 0, "a stopped container's pid is 0: {st}");

    // delete: state, cgroups and state directory gone.
    let out = rt.run(&["delete", &id]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_gone_state(&rt, &id);
    assert!(!rt.state_dir(&id).exists(), "state directory left");
    assert_nothing_left(&id, &snaps, "after delete");
}

#[test]
fn run_foreground_exit_status() {
    let rt = Runtime::new("run-fg");

    let id = rt.id("exit3");
    let b = rt.bundle(&["sh", "-c", "echo out; exit 3"]);
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code, 3, "run must exit with init's status:\n{out}");
    assert_eq!(out.stdout, "out\n", "{out}");
    assert_gone_state(&rt, &id);
    assert!(!rt.state_dir(&id).exists(), "run left its state directory");
    assert_nothing_left(&id, &[], "after run");

    // Killed by SIGKILL: 128+9. The pid namespace's init cannot SIGKILL itself: share the host's.
    let id = rt.id("killed");
    let mut b = rt.bundle(&["sh", "-c", "kill -9 $$"]);
    b.host_pidns();
    let out = rt.run(&["run", "--bundle", b.path(), &id]);
    assert_eq!(out.code, 137, "run of a process killed by SIGKILL:\n{out}");
    assert_gone_state(&rt, &id);
    assert_nothing_left(&id, &[], "after run");

    // Success.
    let id = rt.id("true");
    let b = rt.bundle(&["true"]);
    rt.run(&["run", "--bundle", b.path(), &id]).ok();
    assert_gone_state(&rt, &id);
}

/// A foreground `run` forwards the signals it gets to init and exits with init's status.
#[test]
fn run_foreground_forwards_signals() {
    let rt = Runtime::new("run-signal");
    let id = rt.id("");
    let b = rt.bundle(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do sleep 1000 & wait $!; done",
    ]);
    let run = rt.spawn(&["run", "--bundle", b.path(), &id]);
    // Ready: init has set its trap and started its child.
    let snaps = snapshot(rt.wait_for_pids(&id, 2));
    run.signal(libc::SIGTERM);
    let out = run.wait();
    assert_eq!(
        out.code, 42,
        "run must forward TERM and exit with init's status:\n{out}"
    );
    assert_gone_state(&rt, &id);
    assert_nothing_left(&id, &snaps, "after run");
}

#[test]
fn run_detached_then_delete_force() {
    let rt = Runtime::new("run-d");
    let id = rt.id("");
    let b = rt.bundle(&strs(&sleepers(3)));
    let out = rt.run(&["run", "-d", "--bundle", b.path(), &id]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(rt.status(&id), "running");
    let snaps = snapshot(rt.wait_for_pids(&id, 4));

    let out = rt.run(&["delete", &id]);
    out.fails_with(1);
    assert!(
        out.stderr.contains(&format!(
            "cannot delete container {id} that is not stopped: running"
        )),
        "{out}"
    );

    let out = rt.run(&["delete", "-f", &id]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_gone_state(&rt, &id);
    assert!(!rt.state_dir(&id).exists(), "state directory left");
    assert_nothing_left(&id, &snaps, "after delete -f");

    // delete -f of a container that does not exist (any more): success.
    rt.run(&["delete", "-f", &id]).ok();
}

#[test]
fn delete_created_container() {
    let rt = Runtime::new("delete-created");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    rt.run(&["create", "--bundle", b.path(), &id]).ok();
    let init = rt.pid(&id);
    let snaps = snapshot([init]);
    assert_eq!(snaps.len(), 1);
    // runc and crun kill and delete a created container without -f.
    rt.run(&["delete", &id]).ok();
    assert_gone_state(&rt, &id);
    assert_nothing_left(&id, &snaps, "after delete of a created container");
}

#[test]
fn list_quiet_and_json() {
    let rt = Runtime::new("list");
    // Nothing yet: no line.
    let out = rt.run(&["list", "-q"]);
    out.ok();
    assert_eq!(out.stdout, "", "{out}");

    let running = rt.id("running");
    let created = rt.id("created");
    let b = rt.bundle(&["sleep", "1000"]);
    let pid = rt.create_start(&running, &b);
    rt.run(&["create", "--bundle", b.path(), &created]).ok();

    let out = rt.run(&["list", "-q"]);
    out.ok();
    let mut expected = vec![created.clone(), running.clone()];
    expected.sort();
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(got, expected, "list -q:\n{out}");
    assert_eq!(out.stderr, "", "{out}");

    let out = rt.run(&["list", "--format", "json"]);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list --format json is not JSON ({e}):\n{out}"));
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array:\n{out}"));
    assert_eq!(items.len(), 2, "{out}");
    let find = |id: &str| {
        items
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"))
            .clone()
    };
    let r = find(&running);
    assert_eq!(r["status"], "running", "{r}");
    assert_eq!(r["pid"], pid, "{r}");
    let c = find(&created);
    assert_eq!(c["status"], "created", "{c}");
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ] {
        assert!(r.get(key).is_some(), "list json lacks {key}: {r}");
    }

    // The table: a header, one line per container.
    let out = rt.run(&["list"]);
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    assert!(lines[0].contains("STATUS"), "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&running) && l.contains("running")),
        "{out}"
    );
}

/// Every character runc allows in an id: letters, digits, `_ + - .`.
#[test]
fn valid_id_characters() {
    let rt = Runtime::new("valid-id");
    let id = unique_id("A_b+c.D-9");
    let b = rt.bundle(&["sleep", "1000"]);
    if systemd_driver() {
        // The container's scope unit is named after the id, and systemd allows no `+` there.
        let out = rt.run(&["create", "--bundle", b.path(), &id]);
        assert!(
            out.code == 1 && out.stderr.contains("is not a valid systemd unit name"),
            "{out}"
        );
        assert_nothing_left(&id, &[], "after a refused create");
        return;
    }
    let init = rt.create_start(&id, &b);
    assert_eq!(rt.state(&id)["id"], id.as_str());
    let out = rt.run(&["list", "-q"]);
    assert_eq!(out.stdout.trim(), id, "{out}");
    let snaps = snapshot([init]);
    rt.run(&["delete", "-f", &id]).ok();
    assert_nothing_left(&id, &snaps, "after delete -f");
}

/// runc's global flags are accepted (before the subcommand).
#[test]
fn global_flags_accepted() {
    let rt = Runtime::new("global-flags");
    let log = rt.dir.join("log");
    let out = rt.run_global(
        &[
            "--debug",
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "text",
            "--rootless",
            "false",
            "--criu",
            "/usr/sbin/criu",
        ],
        &["list", "-q"],
        None,
    );
    out.ok();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn version() {
    for flag in ["--version", "-v"] {
        let out = run_command(&berth_bin(), &[flag], &[], None);
        out.ok();
        let first = out.stdout.lines().next().unwrap_or_default();
        assert!(first.starts_with("berth version "), "{out}");
        assert!(
            out.stdout.lines().any(|l| l.starts_with("spec: 1.")),
            "{out}"
        );
        assert!(
            out.stdout.lines().any(|l| l.starts_with("commit: ")),
            "{out}"
        );
    }
}

#[test]
fn spec_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run_command(&berth_bin(), &["spec", "--bundle", d], &[], None);
    out.ok();
    let path = dir.path().join("config.json");
    let text = fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).expect("config.json is JSON");
    assert_eq!(
        v["process"]["terminal"], true,
        "runc's default is a terminal"
    );
    assert_eq!(v["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(
            ns.contains(&want),
            "spec lacks the {want} namespace: {ns:?}"
        );
    }

    fs::write(&path, "{\"mine\": true}").unwrap();
    let out = run_command(&berth_bin(), &["spec", "--bundle", d], &[], None);
    out.fails_with(1);
    assert_eq!(out.stderr.lines().count(), 1, "one line:\n{out}");
    assert!(out.stderr.contains("exists"), "{out}");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"mine\": true}",
        "spec overwrote config.json"
    );
}

#[test]
fn features_is_json() {
    let out = run_command(&berth_bin(), &["features"], &[], None);
    out.ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features is not JSON ({e}):\n{out}"));
    assert!(v["ociVersionMin"].is_string(), "{v}");
    assert!(v["ociVersionMax"].is_string(), "{v}");
    assert!(v["linux"]["namespaces"].is_array(), "{v}");
    // berth loads filters itself and passes these flags (kernel 5.19+ takes all four).
    let seccomp = &v["linux"]["seccomp"];
    for flag in [
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ] {
        assert!(
            seccomp["knownFlags"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f == flag)),
            "{flag} is not known: {seccomp}"
        );
        assert!(
            seccomp["supportedFlags"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f == flag)),
            "{flag} is not supported on this kernel: {seccomp}"
        );
    }
    assert_eq!(out.stderr, "", "{out}");
}

#[test]
fn kill_signal_forms() {
    let rt = Runtime::new("kill-forms");
    let id = rt.id("");
    // init traps USR1 and HUP and goes on; TERM ends it.
    let b = rt.bundle(&[
        "sh",
        "-c",
        "trap 'echo usr1' USR1; trap 'echo hup' HUP; trap 'exit 0' TERM; \
         while true; do sleep 1000 & wait $!; done",
    ]);
    rt.create_start(&id, &b);
    let pids = rt.wait_for_pids(&id, 2);
    let snaps = snapshot(pids);
    for sig in ["0", "USR1", "usr1", "SIGUSR1", "sighup", "10", "1"] {
        rt.run(&["kill", &id, sig]).ok();
        assert_eq!(rt.status(&id), "running", "after kill {sig}");
    }
    // KILL as lowercase name with SIG prefix.
    rt.run(&["kill", &id, "sigkill"]).ok();
    assert_all_gone(&snaps, "after kill sigkill");
    assert_eq!(rt.status(&id), "stopped");
    // Stopped: kill --all is a success, plain kill says so.
    rt.run(&["kill", "--all", &id, "KILL"]).ok();
    let out = rt.run(&["kill", &id, "KILL"]);
    out.fails_with(1);
    assert!(out.stderr.contains("container not running"), "{out}");
    rt.run(&["delete", &id]).ok();
    assert_nothing_left(&id, &snaps, "after delete");
}

#[test]
fn update_resources() {
    let rt = Runtime::new("update");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let init = rt.create_start(&id, &b);

    // update: pids.max changes (where the pids controller can be used at all).
    let pids_max = || -> Option<String> {
        cgroup_dirs_of(init)
            .into_iter()
            .map(|d| d.join("pids.max"))
            .find(|f| f.exists())
            .map(|f| fs::read_to_string(f).unwrap().trim().to_string())
    };
    if controller_available("pids") {
        rt.run(&["update", "--pids-limit", "123", &id]).ok();
        assert_eq!(pids_max().as_deref(), Some("123"), "update --pids-limit");
        let out = rt.run_input(&["update", "-r", "-", &id], br#"{"pids":{"limit":77}}"#);
        out.ok();
        assert_eq!(pids_max().as_deref(), Some("77"), "update -r -");
        let file = rt.dir.join("resources.json");
        fs::write(&file, r#"{"pids":{"limit":55}}"#).unwrap();
        rt.run(&["update", "-r", file.to_str().unwrap(), &id]).ok();
        assert_eq!(pids_max().as_deref(), Some("55"), "update -r FILE");
    } else {
        eprintln!("update_resources: no pids controller in this cgroup layout; update not checked");
    }

    let snaps = snapshot([init]);
    rt.run(&["delete", "-f", &id]).ok();
    assert_nothing_left(&id, &snaps, "after delete -f");
}

/// `events --stats`: one JSON line, `{"type":"stats","id":ID,"data":{...}}`.
#[test]
fn events_stats() {
    let rt = Runtime::new("events");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let init = rt.create_start(&id, &b);
    let out = rt.run(&["events", "--stats", &id]);
    out.ok();
    let line = out.stdout.lines().next().unwrap_or_default();
    let v: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("events --stats is not JSON ({e}):\n{out}"));
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id.as_str(), "{v}");

    let snaps = snapshot([init]);
    rt.run(&["delete", "-f", &id]).ok();
    assert_nothing_left(&id, &snaps, "after delete -f");
}

#[test]
fn exec_in_paused_container() {
    let rt = Runtime::new("exec-paused");
    let id = rt.id("");
    let b = rt.bundle(&["sleep", "1000"]);
    let init = rt.create_start(&id, &b);
    rt.run(&["pause", &id]).ok();
    let out = rt.run(&["exec", &id, "true"]);
    out.fails_with(255);
    assert_eq!(out.stderr.lines().count(), 1, "one line:\n{out}");
    assert_eq!(out.stdout, "", "{out}");
    rt.run(&["resume", &id]).ok();
    let out = rt.run(&["exec", &id, "true"]);
    out.ok();
    let snaps = snapshot([init]);
    rt.run(&["kill", &id, "KILL"]).ok();
    assert_all_gone(&snaps, "after kill KILL");
}
