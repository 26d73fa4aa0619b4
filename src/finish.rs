//! What runc does to a container's mounts at the end of create and libcontainer leaves undone:
//! read-only mounts that libcontainer makes writable.
//!
//! - `/dev` with `ro`: libcontainer mounts it read-write (it fills it with devices afterwards)
//!   and never makes it read-only; runc remounts it read-only once filled.
//! - a cgroup v1 mount with `ro` (runc's default config has one): libcontainer mounts a tmpfs
//!   and one mount per hierarchy (the host's own cgroup directories, bound, without a cgroup
//!   namespace) all read-write, so a container could change its own limits; runc makes them
//!   read-only.
//!
//! berth remounts them read-only from a thread that enters the container's mount namespace,
//! while init waits for `start`. Knows nothing of the command line.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use libcontainer::oci_spec::runtime::Spec;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Remounts read-only what `spec` asks to be read-only and libcontainer left writable in the
/// mount namespace of the container whose init is `init_pid`.
pub fn read_only_mounts(spec: &Spec, init_pid: i32) -> Result<()> {
    let wanted = wanted(spec);
    if wanted.is_empty() {
        return Ok(());
    }
    let mountinfo = fs::read_to_string(format!("/proc/{init_pid}/mountinfo"))
        .context("cannot read the container's mounts")?;
    let targets = targets(&mountinfo, &wanted);
    if targets.is_empty() {
        return Ok(());
    }
    let ns = File::open(format!("/proc/{init_pid}/ns/mnt"))
        .context("cannot open the container's mount namespace")?;
    let root =
        File::open(format!("/proc/{init_pid}/root")).context("cannot open the container's root")?;
    std::thread::spawn(move || remount_in(ns, root, &targets))
        .join()
        .map_err(|_| anyhow!("the remounting thread panicked"))?
}

/// A read-only mount point the config asks for: the directory itself, or everything mounted
/// at or below it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    path: PathBuf,
    below_too: bool,
}

fn wanted(spec: &Spec) -> Vec<Wanted> {
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let ro = m.options().iter().flatten().any(|o| o == "ro");
        if !ro {
            continue;
        }
        if m.destination() == Path::new("/dev") {
            out.push(Wanted {
                path: PathBuf::from("/dev"),
                below_too: false,
            });
        } else if m.typ().as_deref() == Some("cgroup") {
            out.push(Wanted {
                path: m.destination().clone(),
                below_too: true,
            });
        }
    }
    out
}

/// The mount points of `mountinfo` (the container's, paths as init sees them) that `wanted`
/// names and that are writable, with the per-mount flags to keep.
fn targets(mountinfo: &str, wanted: &[Wanted]) -> Vec<(PathBuf, MsFlags)> {
    let mut out: Vec<(PathBuf, MsFlags)> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(point), Some(options)) = (fields.get(4), fields.get(5)) else {
            continue;
        };
        let point = PathBuf::from(unescape(point));
        let hit = wanted
            .iter()
            .any(|w| point == w.path || (w.below_too && point.starts_with(&w.path)));
        if !hit {
            continue;
        }
        let mut flags = MsFlags::empty();
        let mut read_only = false;
        for o in options.split(',') {
            match o {
                "ro" => read_only = true,
                "nosuid" => flags |= MsFlags::MS_NOSUID,
                "nodev" => flags |= MsFlags::MS_NODEV,
                "noexec" => flags |= MsFlags::MS_NOEXEC,
                "noatime" => flags |= MsFlags::MS_NOATIME,
                "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
                "relatime" => flags |= MsFlags::MS_RELATIME,
                "strictatime" => flags |= MsFlags::MS_STRICTATIME,
                _ => {}
            }
        }
        // A later mount at the same point hides an earlier one: the last one counts.
        out.retain(|(p, _)| *p != point);
        if !read_only {
            out.push((point, flags));
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// In a thread of its own (its own root and working directory, then the container's mount
/// namespace and root): each target remounted read-only, its other flags kept.
fn remount_in(ns: File, root: File, targets: &[(PathBuf, MsFlags)]) -> Result<()> {
    unshare(CloneFlags::CLONE_FS).context("cannot unshare the thread's file system state")?;
    setns(&ns, CloneFlags::CLONE_NEWNS).context("cannot enter the container's mount namespace")?;
    nix::unistd::fchdir(root.as_raw_fd()).context("cannot enter the container's root")?;
    nix::unistd::chroot(".").context("cannot enter the container's root")?;
    for (point, flags) in targets {
        mount(
            None::<&str>,
            point,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | *flags,
            None::<&str>,
        )
        .with_context(|| format!("cannot make {} read-only", point.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
1 0 8:1 / / ro,relatime - ext4 /dev/sda1 rw
2 1 0:5 / /dev rw,nosuid - tmpfs tmpfs rw,mode=755
3 2 0:6 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw
4 1 0:7 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
5 4 0:8 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
6 4 0:9 / /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
7 1 0:10 / /sys/fs/cgroupx rw - tmpfs tmpfs rw
";

    #[test]
    fn picks_writable_mounts_that_are_wanted() {
        let wanted = [
            Wanted {
                path: PathBuf::from("/dev"),
                below_too: false,
            },
            Wanted {
                path: PathBuf::from("/sys/fs/cgroup"),
                below_too: true,
            },
        ];
        let t = targets(INFO, &wanted);
        let points: Vec<&str> = t.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(points, ["/dev", "/sys/fs/cgroup", "/sys/fs/cgroup/cpu"]);
        assert_eq!(t[0].1, MsFlags::MS_NOSUID);
        assert!(t[2].1.contains(MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME));
    }
}
