//! The container's `/sys/fs/cgroup` on a cgroup v1 or hybrid host, which berth mounts itself
//! (src/cgroup_view.rs): the container's own cgroup in every v1 hierarchy, read-only, and the
//! same mounts libcontainer makes where berth leaves the view to it.

use std::path::Path;

use serde_json::json;

use crate::common::*;

/// A host whose /sys/fs/cgroup holds v1 hierarchies (hybrid or legacy), where the view is
/// emulated; on cgroup v2 the container gets a cgroup2 mount instead.
fn v1_host() -> bool {
    !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The mounts at and below /sys/fs/cgroup that a container's process sees, from its
/// mountinfo: "mount-point root per-mount-options - type source super-options", with the
/// container's cgroup path in the root field written as CG.
fn view_of(out: &str, cgroup: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let point = *f.get(4)?;
            if point != "/sys/fs/cgroup" && !point.starts_with("/sys/fs/cgroup/") {
                return None;
            }
            let root = if f[3] == cgroup { "CG" } else { f[3] };
            Some(format!("{point} {root} {} - {right}", f[5]))
        })
        .collect()
}

/// The host's v1 hierarchies under /sys/fs/cgroup, by the name a container sees them under.
fn host_hierarchies() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(" - cgroup "))
        .filter_map(|l| l.split(' ').nth(4))
        .filter_map(|p| p.strip_prefix("/sys/fs/cgroup/"))
        .map(str::to_string)
        .collect()
}

/// Runs `script` in a container of `bundle` (foreground `run`, `--debug`); returns its output
/// and whether berth, not libcontainer, made the cgroup view (berth's debug log says so).
fn run_logged(rt: &Runtime, bundle: &Bundle, id: &str) -> (Output, bool) {
    let log = rt.dir.join(format!("{id}.log"));
    let log_arg = log.to_str().unwrap();
    rt.adopt(id);
    let out = rt.run_global(
        &["--debug", "--log", log_arg],
        &["run", "--bundle", bundle.path(), id],
        None,
    );
    out.ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (out, text.contains("cgroup v1 view: made by berth"))
}

#[test]
fn v1_view_is_the_containers_cgroup_read_only() {
    if !v1_host() {
        return;
    }
    let rt = Runtime::new("cgview");
    let id = rt.id("");
    let script = "cat /proc/self/mountinfo; \
                  grep -qx 1 /sys/fs/cgroup/pids/cgroup.procs && echo init-in-view; \
                  touch /sys/fs/cgroup/x || echo tmpfs-ro; \
                  mkdir /sys/fs/cgroup/pids/sub || echo pids-ro; ls -1 /sys/fs/cgroup";
    let b = rt.bundle(&["sh", "-c", script]);
    let (out, by_berth) = run_logged(&rt, &b, &id);
    assert!(
        by_berth,
        "berth left the view of runc's default config to libcontainer"
    );
    let view = view_of(&out.stdout, &format!("/{id}"));
    assert!(
        view.first()
            .is_some_and(|l| l.starts_with("/sys/fs/cgroup / ro,") && l.contains(" - tmpfs ")),
        "no read-only tmpfs at /sys/fs/cgroup:\n{out}"
    );
    for name in host_hierarchies() {
        let line = view
            .iter()
            .find(|l| l.starts_with(&format!("/sys/fs/cgroup/{name} ")))
            .unwrap_or_else(|| panic!("no mount for hierarchy {name}:\n{out}"));
        assert!(
            line.contains(" CG ro,"),
            "{name} is not the container's cgroup, read-only: {line}"
        );
        assert!(
            out.stdout.lines().any(|l| l == name),
            "{name} not listed:\n{out}"
        );
    }
    assert!(
        !view.iter().any(|l| l.contains(" - cgroup2 ")),
        "a cgroup2 mount in a v1 view:\n{out}"
    );
    // The container's init (pid 1 in its own PID namespace) is in the cgroup it sees.
    assert!(out.stdout.lines().any(|l| l == "init-in-view"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "tmpfs-ro"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "pids-ro"), "{out}");
}

#[test]
fn v1_view_is_the_one_libcontainer_makes() {
    if !v1_host() {
        return;
    }
    let rt = Runtime::new("cgview-same");
    let script = "cat /proc/self/mountinfo; ls -l /sys/fs/cgroup | awk '{$6=$7=$8=\"\"; print}'";
    for read_only in [true, false] {
        let mut views = Vec::new();
        // A read-only path below /sys/fs/cgroup (one that does not exist, which runc and
        // libcontainer skip) leaves the view to libcontainer.
        for readonly_below in [false, true] {
            let id = rt.id(if readonly_below { "lc" } else { "berth" });
            let mut b = rt.bundle(&["sh", "-c", script]);
            b.edit(|c| {
                c["linux"]["cgroupsPath"] = json!(format!("/{id}"));
                if readonly_below {
                    c["linux"]["readonlyPaths"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!("/sys/fs/cgroup/nothing-here"));
                }
                for m in c["mounts"].as_array_mut().unwrap() {
                    if m["type"] == "cgroup" && !read_only {
                        m["options"].as_array_mut().unwrap().retain(|o| o != "ro");
                    }
                }
            });
            let (out, by_berth) = run_logged(&rt, &b, &id);
            assert_eq!(by_berth, !readonly_below, "who made the view:\n{out}");
            let listing: Vec<String> = out
                .stdout
                .lines()
                .filter(|l| l.starts_with('d') || l.starts_with('l'))
                .map(str::to_string)
                .collect();
            views.push((view_of(&out.stdout, &format!("/{id}")), listing));
        }
        assert!(!views[0].0.is_empty());
        assert_eq!(
            views[0], views[1],
            "berth's view (left) and libcontainer's (right) differ (ro: {read_only})"
        );
    }
}
