//! A container's cgroups in every mounted hierarchy: who is in them (sub-cgroups included),
//! freezing, `cgroup.kill`, and removal depth-first with retries.
//!
//! The hierarchies are read from /proc/self/mountinfo, so the same code serves cgroup v1, v2
//! and the hybrid layout (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::fsutil::unescape_mountinfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub dir: PathBuf,
    pub version: Version,
    /// v1 controllers (and `name=...`) of this hierarchy; empty for v2.
    pub controllers: Vec<String>,
}

/// A container's cgroup directories: one per mounted hierarchy where it has one.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    pub hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// The directories for `cgroup_path` (as libcontainer resolves it: below each mount point)
    /// that exist now. Each is looked up once: the scans that follow read them many times.
    pub fn locate(cgroup_path: &Path) -> io::Result<Cgroups> {
        let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
        if rel.as_os_str().is_empty() || rel.components().any(|c| c.as_os_str() == "..") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cgroup path {} escapes its hierarchy",
                    cgroup_path.display()
                ),
            ));
        }
        let hierarchies = mounted_hierarchies()?
            .into_iter()
            .map(|(mount, version, controllers)| Hierarchy {
                dir: mount.join(rel),
                version,
                controllers,
            })
            .filter(|h| h.dir.is_dir())
            .collect();
        Ok(Cgroups { hierarchies })
    }

    fn existing(&self) -> impl Iterator<Item = &Hierarchy> {
        self.hierarchies.iter()
    }

    /// Every directory of the container, sub-cgroups included, deepest first.
    pub fn dirs_deepest_first(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for h in self.existing() {
            collect_dirs(&h.dir, &mut out);
        }
        out
    }

    /// Every pid in the container's cgroups, sub-cgroups included, in every hierarchy.
    pub fn pids(&self) -> BTreeSet<i32> {
        let mut pids = BTreeSet::new();
        for dir in self.dirs_deepest_first() {
            // A cgroup removed under us, or a v2 threaded cgroup that has no cgroup.procs to
            // read (its threads' processes are listed in the domain above it): skip.
            if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids
    }

    fn v2(&self) -> Option<&Hierarchy> {
        self.existing().find(|h| h.version == Version::V2)
    }

    fn v1_freezer(&self) -> Option<&Hierarchy> {
        self.existing()
            .find(|h| h.version == Version::V1 && h.controllers.iter().any(|c| c == "freezer"))
    }

    /// Where the processes of the container are frozen: the v2 hierarchy when it has all the
    /// container's processes (pure v2), else the v1 freezer.
    fn freezer(&self) -> Option<(&Hierarchy, Version)> {
        match self.v1_freezer() {
            Some(h) => Some((h, Version::V1)),
            None => self.v2().map(|h| (h, Version::V2)),
        }
    }

    /// Writes `1` to the v2 `cgroup.kill` (Linux 5.14+), which SIGKILLs every process of the
    /// cgroup and its descendants, forks racing it included. False where it is not available,
    /// or where the v2 hierarchy is not the one holding the container (hybrid layout).
    pub fn kill_v2(&self) -> bool {
        if self.v1_freezer().is_some() {
            return false;
        }
        match self.v2() {
            Some(h) => fs::write(h.dir.join("cgroup.kill"), "1").is_ok(),
            None => false,
        }
    }

    pub fn is_frozen(&self) -> bool {
        match self.freezer() {
            Some((h, Version::V1)) => fs::read_to_string(h.dir.join("freezer.state"))
                .map(|s| s.trim() != "THAWED")
                .unwrap_or(false),
            Some((h, Version::V2)) => fs::read_to_string(h.dir.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false),
            None => false,
        }
    }

    /// Freezes the container so that nothing forks while its pids are collected. Waits for the
    /// freeze to take hold for at most `limit` (a task in uninterruptible sleep never freezes on
    /// v1); returns whether the freeze was requested.
    pub fn freeze(&self, limit: Duration) -> bool {
        let Some((h, version)) = self.freezer() else {
            return false;
        };
        let (file, value) = match version {
            Version::V1 => ("freezer.state", "FROZEN"),
            Version::V2 => ("cgroup.freeze", "1"),
        };
        if fs::write(h.dir.join(file), value).is_err() {
            return false;
        }
        let deadline = Instant::now() + limit;
        let mut pause = Duration::from_micros(100);
        while Instant::now() < deadline && !self.freeze_complete(h, version) {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        true
    }

    fn freeze_complete(&self, h: &Hierarchy, version: Version) -> bool {
        match version {
            Version::V1 => fs::read_to_string(h.dir.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(true),
            Version::V2 => fs::read_to_string(h.dir.join("cgroup.events"))
                .map(|s| s.lines().any(|l| l == "frozen 1"))
                .unwrap_or(true),
        }
    }

    /// Thaws the container (frozen tasks cannot die on v1).
    pub fn thaw(&self) {
        match self.freezer() {
            Some((h, Version::V1)) => {
                let _ = fs::write(h.dir.join("freezer.state"), "THAWED");
            }
            Some((h, Version::V2)) => {
                let _ = fs::write(h.dir.join("cgroup.freeze"), "0");
            }
            None => {}
        }
    }

    /// Removes every directory of the container, deepest first. rmdir of a cgroup whose last
    /// task has just exited can fail with EBUSY for a moment: retry until `deadline`.
    pub fn remove(&self, deadline: Instant) -> io::Result<()> {
        let mut pause = Duration::from_micros(200);
        loop {
            let mut busy = None;
            for dir in self.dirs_deepest_first() {
                match fs::remove_dir(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => busy = Some((dir, e)),
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("cannot remove cgroup {}: {e}", dir.display()),
                        ))
                    }
                }
            }
            match busy {
                None => return Ok(()),
                Some((dir, e)) if Instant::now() >= deadline => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot remove cgroup {}: {e}", dir.display()),
                    ))
                }
                Some(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
}

/// The cgroup paths (relative to their hierarchy's root, as `/a/b`) of every directory, in any
/// mounted hierarchy and at most `max_depth` levels down, whose name `matches`. A match is not
/// searched further down.
pub fn find_named(
    matches: &dyn Fn(&str) -> bool,
    max_depth: usize,
) -> io::Result<BTreeSet<PathBuf>> {
    fn walk(
        dir: &Path,
        rel: &Path,
        depth: usize,
        matches: &dyn Fn(&str) -> bool,
        out: &mut BTreeSet<PathBuf>,
    ) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            let rel = rel.join(&name);
            if name.to_str().is_some_and(matches) {
                out.insert(rel);
            } else {
                walk(&entry.path(), &rel, depth - 1, matches, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    for (mount, _, _) in mounted_hierarchies()? {
        walk(&mount, Path::new("/"), max_depth, matches, &mut out);
    }
    Ok(out)
}

/// Pushes `dir` and its sub-directories onto `out`, children before parents.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&entry.path(), out);
            }
        }
    } else {
        return;
    }
    out.push(dir.to_path_buf());
}

/// A mounted hierarchy: mount point, version, controllers.
type Mounted = (PathBuf, Version, Vec<String>);

/// What [`mounted_hierarchies`] read, and in which mount namespace (device, inode).
static HIERARCHIES: Mutex<Option<(u64, u64, Vec<Mounted>)>> = Mutex::new(None);

/// The cgroup hierarchies mounted in this mount namespace: mount point, version, controllers.
/// A hierarchy mounted at several places is listed once.
///
/// Read once per mount namespace and process: one `create` looks at them at four steps, and
/// the kernel formats the whole mount table for every read. (Mounts do not change under a
/// command; one that enters a mount namespace of its own, as a rootless one may, reads anew.)
pub fn mounted_hierarchies() -> io::Result<Vec<Mounted>> {
    let ns = fs::metadata("/proc/self/ns/mnt")?;
    let mut read = HIERARCHIES.lock().unwrap_or_else(|e| e.into_inner());
    match &*read {
        Some((dev, ino, list)) if (*dev, *ino) == (ns.dev(), ns.ino()) => Ok(list.clone()),
        _ => {
            let list = read_hierarchies()?;
            *read = Some((ns.dev(), ns.ino(), list.clone()));
            Ok(list)
        }
    }
}

/// Forgets what [`mounted_hierarchies`] read: for code that makes or leaves a mount namespace
/// of its own (a freed namespace's number may be given to the next one).
pub fn forget_mounted_hierarchies() {
    *HIERARCHIES.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

fn read_hierarchies() -> io::Result<Vec<Mounted>> {
    let text = fs::read_to_string("/proc/self/mountinfo")?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let version = match right[0] {
            "cgroup" => Version::V1,
            "cgroup2" => Version::V2,
            _ => continue,
        };
        if !seen.insert(left[2].to_string()) {
            continue;
        }
        let controllers = match version {
            Version::V1 => right[2]
                .split(',')
                .filter(|o| !is_mount_option(o))
                .map(str::to_string)
                .collect(),
            Version::V2 => Vec::new(),
        };
        out.push((
            PathBuf::from(unescape_mountinfo(left[4])),
            version,
            controllers,
        ));
    }
    Ok(out)
}

/// The super options of a v1 cgroup mount that are not controllers.
fn is_mount_option(o: &str) -> bool {
    matches!(
        o,
        "rw" | "ro"
            | "relatime"
            | "noatime"
            | "nosuid"
            | "nodev"
            | "noexec"
            | "clone_children"
            | "xattr"
    ) || o.starts_with("release_agent=")
}
