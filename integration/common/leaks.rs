//! Leak accounting: what a test's containers could leave behind (processes, cgroup
//! directories, mounts, `--root` entries), snapshotted before and compared after.

use std::collections::BTreeSet;
use std::fs;

use super::*;

/// Everything the test's containers could leave behind, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaks {
    /// Live (not zombie) processes whose /proc/PID/cgroup mentions the id prefix.
    pub procs: BTreeSet<String>,
    /// Cgroup directories (maxdepth 4) whose name contains the id prefix.
    pub cgroups: BTreeSet<String>,
    /// Lines of /proc/self/mountinfo mentioning the test's scratch directory.
    pub mounts: BTreeSet<String>,
    /// Entries under `--root`, `.locks/NAME` for lock files, `.locks` itself only when empty
    /// is left out.
    pub root: BTreeSet<String>,
}

impl Leaks {
    /// `prefix` is a substring of every container id of the test (and of nothing else).
    pub fn take(rt: &Runtime, prefix: &str) -> Leaks {
        let procs = procs_in_cgroups_named(prefix)
            .into_iter()
            .map(|pid| {
                let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                let line = cg
                    .lines()
                    .find(|l| l.contains(prefix))
                    .unwrap_or("")
                    .to_string();
                format!("{} in {line}", describe(pid))
            })
            .collect();
        let cgroups = cgroup_dirs_with(prefix)
            .into_iter()
            .map(|p| p.display().to_string())
            .collect();
        let dir = rt.dir.display().to_string();
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&dir))
            .map(String::from)
            .collect();
        let mut root: BTreeSet<String> = rt.root_entries().into_iter().collect();
        if let Ok(entries) = fs::read_dir(rt.root.join(".locks")) {
            for e in entries.flatten() {
                root.insert(format!(".locks/{}", e.file_name().to_string_lossy()));
            }
        }
        Leaks {
            procs,
            cgroups,
            mounts,
            root,
        }
    }

    /// What `self` (after) has that `before` had not, described; empty when nothing leaked.
    pub fn new_since(&self, before: &Leaks) -> Vec<String> {
        let mut out = Vec::new();
        let diff =
            |what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>, out: &mut Vec<String>| {
                for x in a.difference(b) {
                    out.push(format!("{what}: {x}"));
                }
            };
        diff("process", &self.procs, &before.procs, &mut out);
        diff("cgroup dir", &self.cgroups, &before.cgroups, &mut out);
        diff("mount", &self.mounts, &before.mounts, &mut out);
        diff("--root entry", &self.root, &before.root, &mut out);
        out
    }
}

/// Fails with the list of leaks when anything is left that was not there at `before`.
#[track_caller]
pub fn assert_no_leaks(rt: &Runtime, prefix: &str, before: &Leaks, what: &str) {
    let after = Leaks::take(rt, prefix);
    let new = after.new_since(before);
    assert!(
        new.is_empty(),
        "{what}: {} leak(s):\n  {}",
        new.len(),
        new.join("\n  ")
    );
}

/// The id prefix of a runtime's containers: `rt.id(s)` is `it-NAME-s-PID`.
pub fn prefix_of(rt: &Runtime) -> String {
    format!("it-{}-", rt.name)
}
