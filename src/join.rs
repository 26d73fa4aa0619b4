//! Which cgroups a container's processes join, beyond what libcontainer places them in.
//!
//! libcontainer's cgroupfs driver for cgroup v1 moves a new process into the container's
//! cgroup in the hierarchies of the v1 controllers it knows ([`MANAGED_V1`]) and nowhere else.
//! runc also places it in the other hierarchies: named ones (`name=systemd`) and, in the hybrid
//! layout, the cgroup2 hierarchy at /sys/fs/cgroup/unified (it has no controllers, but tools
//! read a process's cgroup from there). A process forked by libcontainer keeps the cgroups of
//! the process that forked it wherever libcontainer does not move it, so berth moves itself
//! into the container's cgroup in those hierarchies for the time of the fork ([`Joined`]).
//!
//! `exec --cgroup` names sub-cgroups of the container's cgroup, for all controllers or per
//! controller ([`SubCgroups`]). libcontainer joins one path in every hierarchy it manages; where
//! the paths differ per controller, the exec'd process moves itself into them before its
//! program runs ([`JoiningExecutor`]). Knows nothing of the command line.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use libcgroups::common::CgroupSetup;
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};

use crate::teardown::cgroup::{mounted_hierarchies, Version};

/// The v1 controllers whose hierarchies libcontainer's v1 manager places processes in (its
/// `CONTROLLERS`, which it does not export).
const MANAGED_V1: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// One mounted hierarchy.
#[derive(Debug, Clone)]
struct Hierarchy {
    mount: PathBuf,
    version: Version,
    /// v1 controllers (and `name=...`); empty for cgroup2.
    controllers: Vec<String>,
    /// libcontainer places processes in it.
    managed: bool,
}

impl Hierarchy {
    /// The directory of cgroup `rel` (relative to the hierarchy's root) in this hierarchy.
    fn dir(&self, rel: &Path) -> PathBuf {
        self.mount.join(rel.strip_prefix("/").unwrap_or(rel))
    }
}

/// The hierarchies mounted here, and which of them libcontainer manages: with cgroup v2 alone
/// (the unified layout) the one there is; otherwise (legacy and hybrid) those of the v1
/// controllers it knows.
fn hierarchies() -> Result<Vec<Hierarchy>> {
    let v2_only = matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(CgroupSetup::Unified)
    );
    let list = mounted_hierarchies().context("cannot read the cgroup mounts")?;
    Ok(list
        .into_iter()
        .map(|(mount, version, controllers)| {
            let managed = match version {
                Version::V2 => v2_only,
                Version::V1 => {
                    !v2_only && controllers.iter().any(|c| MANAGED_V1.contains(&c.as_str()))
                }
            };
            Hierarchy {
                mount,
                version,
                controllers,
                managed,
            }
        })
        .collect())
}

/// This process's cgroup (relative to the hierarchy's root) in hierarchy `h`, from
/// /proc/self/cgroup.
fn own_cgroup(h: &Hierarchy, own: &str) -> Option<PathBuf> {
    let mut want: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
    want.sort_unstable();
    own.lines().find_map(|line| {
        // hierarchy-id:controllers:path (the path may hold colons itself)
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let mut have: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        have.sort_unstable();
        let same = match h.version {
            Version::V2 => have.is_empty(),
            Version::V1 => !have.is_empty() && have == want,
        };
        same.then(|| PathBuf::from(path))
    })
}

/// Moves the calling process (every thread of it) into the cgroup directory `dir`.
fn move_self(dir: &Path) -> io::Result<()> {
    fs::write(dir.join("cgroup.procs"), "0")
}

/// berth itself in the container's cgroup in every hierarchy libcontainer leaves alone, for
/// the time libcontainer forks the container's processes; back where it was when dropped.
#[derive(Debug, Default)]
pub struct Joined {
    back: Vec<PathBuf>,
}

impl Joined {
    /// Joins `cgroup_path` (plus the sub-cgroups `sub` names, for exec) in the hierarchies
    /// libcontainer does not manage. With `create` (a new container's), the directories are
    /// made, and listed first in the file `create` names, one a line, so that a `delete -f`
    /// can remove them should berth be killed before the container's state exists; otherwise
    /// they must exist, as runc requires of exec's cgroups.
    pub fn enter(cgroup_path: &Path, sub: &SubCgroups, create: Option<&Path>) -> Result<Joined> {
        let mut joined = Joined::default();
        let hierarchies = hierarchies()?;
        if hierarchies.iter().all(|h| h.managed) {
            return Ok(joined);
        }
        let own = fs::read_to_string("/proc/self/cgroup")
            .context("cannot read this process's cgroups")?;
        let mut moves = Vec::new();
        for h in hierarchies.iter().filter(|h| !h.managed) {
            if let Some(back) = own_cgroup(h, &own) {
                moves.push((h.dir(&cgroup_path.join(sub.path_for(h))), h.dir(&back)));
            }
        }
        if let Some(record) = create {
            let list: String = moves
                .iter()
                .map(|(dir, _)| format!("{}\n", dir.display()))
                .collect();
            crate::fsutil::write_atomic(record, list.as_bytes())
                .context("cannot record the cgroups made")?;
            for (dir, _) in &moves {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create cgroup {}", dir.display()))?;
            }
        }
        for (dir, back) in moves {
            move_self(&dir).map_err(|e| adding_pid_error(&dir, e))?;
            joined.back.push(back);
        }
        Ok(joined)
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        for dir in &self.back {
            if let Err(e) = move_self(dir) {
                tracing::warn!("cannot move berth back to cgroup {}: {e}", dir.display());
            }
        }
    }
}

/// runc's wording for a cgroup a process cannot be added to.
fn adding_pid_error(dir: &Path, e: io::Error) -> anyhow::Error {
    // The system's message in runc's (Go's) words: "no such file or directory".
    let text = crate::hooks::os_error_text(&e);
    anyhow!(
        "adding pid to cgroups: {}: {text}",
        dir.join("cgroup.procs").display()
    )
}

/// `exec --cgroup`'s sub-cgroups: one path for every controller (`PATH`), or paths per
/// controller (`CTRL[,CTRL...]:PATH`, repeatable). Paths are relative to the container's cgroup
/// and stay below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubCgroups {
    all: Option<PathBuf>,
    per_controller: BTreeMap<String, PathBuf>,
}

impl SubCgroups {
    /// Parses `--cgroup` arguments as runc does.
    pub fn parse(args: &[String]) -> Result<SubCgroups> {
        let mut out = SubCgroups::default();
        for arg in args {
            match arg.split_once(':') {
                None => {
                    if args.len() != 1 {
                        bail!("invalid --cgroup argument: {arg} (missing <controller>: prefix)");
                    }
                    out.all = Some(sub_path(arg)?);
                }
                Some((controllers, path)) => {
                    if path.contains(':') {
                        bail!("invalid --cgroup argument: {arg}");
                    }
                    let path = sub_path(path)?;
                    for c in controllers.split(',') {
                        if c.is_empty() {
                            bail!("invalid --cgroup argument: {arg} (empty <controller> prefix)");
                        }
                        if out
                            .per_controller
                            .insert(c.to_string(), path.clone())
                            .is_some()
                        {
                            bail!(
                                "invalid --cgroup argument(s): controller {c} specified multiple times"
                            );
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.per_controller.is_empty()
    }

    /// The sub-cgroup (relative, possibly empty) a process joins in hierarchy `h`.
    fn path_for(&self, h: &Hierarchy) -> PathBuf {
        let named = h
            .controllers
            .iter()
            .find_map(|c| self.per_controller.get(c));
        named.or(self.all.as_ref()).cloned().unwrap_or_default()
    }

    /// Checks the sub-cgroups against the hierarchies mounted here and the container's cgroup
    /// `cgroup_path`, and plans the joins: every controller named must be mounted and every
    /// directory must exist (runc never creates exec's cgroups). libcontainer joins a single
    /// path in every hierarchy it manages: when those all get the same path it is handed that
    /// one ([`ExecCgroups::libcontainer`]); otherwise the process moves itself into each of
    /// them before its program runs ([`ExecCgroups::executor`]).
    pub fn resolve(&self, cgroup_path: &Path) -> Result<ExecCgroups> {
        if self.is_empty() {
            return Ok(ExecCgroups::default());
        }
        let hierarchies = hierarchies()?;
        for c in self.per_controller.keys() {
            if !hierarchies.iter().any(|h| h.controllers.contains(c)) {
                bail!("unknown controller {c}: no cgroup hierarchy has it");
            }
        }
        let mut managed: Vec<(PathBuf, PathBuf)> = Vec::new();
        for h in &hierarchies {
            let top = h.dir(cgroup_path);
            if !top.is_dir() {
                continue;
            }
            let sub = self.path_for(h);
            let dir = top.join(&sub);
            if !dir.is_dir() {
                return Err(adding_pid_error(
                    &dir,
                    io::Error::from(io::ErrorKind::NotFound),
                ));
            }
            if h.managed {
                managed.push((sub, dir));
            }
        }
        let mut paths: Vec<&PathBuf> = managed.iter().map(|(sub, _)| sub).collect();
        paths.sort();
        paths.dedup();
        if let [] | [_] = paths.as_slice() {
            let one = paths.first().map(|p| (*p).clone());
            return Ok(ExecCgroups {
                libcontainer: one.filter(|p| !p.as_os_str().is_empty()),
                joins: SelfJoins::default(),
            });
        }
        let mut procs = Vec::new();
        for (_, dir) in managed
            .into_iter()
            .filter(|(sub, _)| !sub.as_os_str().is_empty())
        {
            let file = dir.join("cgroup.procs");
            let fd = fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .map_err(|e| adding_pid_error(&dir, e))?;
            procs.push((file, OwnedFd::from(fd)));
        }
        Ok(ExecCgroups {
            libcontainer: None,
            joins: SelfJoins(Arc::new(procs)),
        })
    }
}

/// How an exec'd process gets into its sub-cgroups (see [`SubCgroups::resolve`]).
#[derive(Debug, Default)]
pub struct ExecCgroups {
    /// The one sub-cgroup (relative to the container's cgroup) libcontainer joins in every
    /// hierarchy it manages; none: the container's cgroup.
    pub libcontainer: Option<PathBuf>,
    joins: SelfJoins,
}

impl ExecCgroups {
    /// Whether the process stays in the container's own cgroup (`--cgroup /`, or none).
    pub fn is_container_cgroup(&self) -> bool {
        self.libcontainer.is_none() && self.joins.0.is_empty()
    }

    /// `next`, the executor that runs the process's program, preceded by the process's moves
    /// into the sub-cgroups libcontainer does not put it in.
    pub fn executor<E: Executor + Clone + 'static>(&self, next: E) -> JoiningExecutor<E> {
        JoiningExecutor {
            joins: self.joins.clone(),
            next,
        }
    }
}

/// The `cgroup.procs` files of the sub-cgroups an exec'd process moves itself into, opened by
/// berth on the host: the process writes to them from inside the container, where the paths
/// may not be reachable (the kernel checks the opener's credentials, not the writer's).
#[derive(Debug, Clone, Default)]
struct SelfJoins(Arc<Vec<(PathBuf, OwnedFd)>>);

impl SelfJoins {
    /// In the exec'd process: moves it into each cgroup.
    fn enter(&self) -> std::result::Result<(), String> {
        for (file, fd) in self.0.iter() {
            match nix::unistd::write(fd, b"0") {
                Ok(_) => {}
                Err(e) => {
                    let e = io::Error::from(e);
                    let dir = file.parent().unwrap_or(file);
                    return Err(adding_pid_error(dir, e).to_string());
                }
            }
        }
        Ok(())
    }
}

/// An executor that moves the process into its sub-cgroups, then runs `next`: in libcontainer's
/// fork, inside the container, before the program (and before a seccomp filter `next` loads).
#[derive(Clone)]
pub struct JoiningExecutor<E> {
    joins: SelfJoins,
    next: E,
}

impl<E: Executor + Clone + 'static> Executor for JoiningExecutor<E> {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        self.joins.enter().map_err(ExecutorError::Other)?;
        self.next.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        self.next.validate(spec)
    }

    fn setup_envs(
        &self,
        envs: HashMap<String, String>,
    ) -> std::result::Result<(), ExecutorSetEnvsError> {
        self.next.setup_envs(envs)
    }
}

/// A sub-cgroup path: relative to the container's cgroup (a leading `/` is its top), never
/// above it.
fn sub_path(text: &str) -> Result<PathBuf> {
    // Both runc's phrases: 1.1's ("... is not a sub cgroup path") and later ones' ("bad sub
    // cgroup path: ...").
    let outside = || {
        anyhow!("bad sub cgroup path: {text} is not a sub cgroup path of the container's cgroup")
    };
    let mut out = PathBuf::new();
    for c in Path::new(text).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return Err(outside());
                }
            }
            Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_forms() {
        let s = SubCgroups::parse(&args(&["sub/a"])).unwrap();
        assert_eq!(s.all, Some(PathBuf::from("sub/a")));
        let s = SubCgroups::parse(&args(&["/"])).unwrap();
        assert_eq!(s.all, Some(PathBuf::new()));
        let s = SubCgroups::parse(&args(&["memory:m", "cpu,cpuacct:c"])).unwrap();
        assert_eq!(s.per_controller.len(), 3);
        assert_eq!(s.per_controller["cpuacct"], PathBuf::from("c"));
        assert!(SubCgroups::parse(&args(&["a", "b"])).is_err());
        assert!(SubCgroups::parse(&args(&["cpu:a", "cpu:b"])).is_err());
        assert!(SubCgroups::parse(&args(&[",cpu:a"])).is_err());
        assert!(SubCgroups::parse(&args(&["cpu:a:b"])).is_err());
    }

    #[test]
    fn paths_stay_below() {
        assert!(sub_path("..").is_err());
        assert!(sub_path("a/../..").is_err());
        assert_eq!(sub_path("a/../b").unwrap(), PathBuf::from("b"));
        assert_eq!(sub_path("/a/./b/").unwrap(), PathBuf::from("a/b"));
        let e = SubCgroups::parse(&args(&[".."])).unwrap_err().to_string();
        assert!(e.contains(" .. is not a sub cgroup path"), "{e}");
        assert!(e.contains("bad sub cgroup path"), "{e}");
    }

    #[test]
    fn own_cgroup_lines() {
        let own = "9:name=systemd:/a\n4:cpu,cpuacct:/b:c\n0::/u\n";
        let h = |version, c: &[&str]| Hierarchy {
            mount: PathBuf::from("/x"),
            version,
            managed: false,
            controllers: c.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            own_cgroup(&h(Version::V1, &["name=systemd"]), own),
            Some(PathBuf::from("/a"))
        );
        assert_eq!(
            own_cgroup(&h(Version::V1, &["cpuacct", "cpu"]), own),
            Some(PathBuf::from("/b:c"))
        );
        assert_eq!(
            own_cgroup(&h(Version::V2, &[]), own),
            Some(PathBuf::from("/u"))
        );
        assert_eq!(own_cgroup(&h(Version::V1, &["memory"]), own), None);
    }
}
