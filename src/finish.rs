//! What runc does to a container's mounts at the end of create and libcontainer leaves undone:
//! read-only mounts that libcontainer makes writable, and the flags of bind mounts.
//!
//! - `/dev` with `ro`: libcontainer mounts it read-write (it fills it with devices afterwards)
//!   and never makes it read-only; runc remounts it read-only once filled.
//! - a cgroup v1 mount with `ro` (runc's default config has one): libcontainer mounts a tmpfs
//!   and one mount per hierarchy (the host's own cgroup directories, bound, without a cgroup
//!   namespace) all read-write, so a container could change its own limits; runc makes them
//!   read-only.
//!
//! - propagation options of a mount (`shared`, `rslave`, ...): libcontainer's mounts ignore
//!   them; runc applies them in order once the mount is made.
//! - a bind mount: libcontainer adds the flags its options ask for to those of the source (a
//!   read-only source stays read-only under `rw`); runc gives it exactly the flags asked for.
//!
//! berth remounts them from a thread that enters the container's mount namespace,
//! while init waits for `start`; the same thread attaches the cgroup view berth makes itself
//! where it can (see `cgroup_view`: then libcontainer makes none to remount). Knows nothing of the command line.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use libcontainer::oci_spec::runtime::Spec;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::cgroup_view::{self, CgroupView};
use crate::fsutil::unescape_mountinfo;

/// Mounts the cgroup `view` berth makes itself, remounts read-only what `spec` (the config
/// libcontainer got) asks to be read-only and libcontainer left writable, and gives bind
/// mounts exactly the flags their options ask for, in the mount namespace of the container
/// whose init is `init_pid`.
pub fn mounts(spec: &Spec, init_pid: i32, view: Option<&CgroupView>) -> Result<()> {
    let wanted = wanted(spec);
    let binds = bind_flags(spec);
    let propagation = propagation(spec);
    if wanted.is_empty() && binds.is_empty() && propagation.is_empty() && view.is_none() {
        return Ok(());
    }
    let view = view
        .map(CgroupView::detach)
        .transpose()
        .context("cannot make the container's cgroup view")?;
    let mountinfo = if wanted.is_empty() {
        // Only the bind mounts and propagation, which name their mount points.
        String::new()
    } else {
        fs::read_to_string(format!("/proc/{init_pid}/mountinfo"))
            .context("cannot read the container's mounts")?
    };
    let mut targets: Vec<Target> = binds
        .into_iter()
        .map(|(point, flags)| Target {
            point,
            flags,
            required: false,
        })
        .collect();
    targets.extend(
        self::targets(&mountinfo, &wanted)
            .into_iter()
            .map(|(point, flags)| Target {
                point,
                flags: flags | MsFlags::MS_RDONLY,
                required: true,
            }),
    );
    targets.extend(propagation.into_iter().map(|(point, flags)| Target {
        point,
        flags,
        required: false,
    }));
    if targets.is_empty() && view.is_none() {
        return Ok(());
    }
    let ns = File::open(format!("/proc/{init_pid}/ns/mnt"))
        .context("cannot open the container's mount namespace")?;
    let root =
        File::open(format!("/proc/{init_pid}/root")).context("cannot open the container's root")?;
    std::thread::spawn(move || remount_in(ns, root, view.as_ref(), &targets))
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
        let point = PathBuf::from(unescape_mountinfo(point));
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

/// A mount point to remount with exactly `flags` (per-mount flags; an atime flag left out
/// keeps the mount's atime setting), or whose propagation to change (`flags` has one). `required`: a failure fails the create (a read-only mount
/// left writable); else it is logged (a flag libcontainer set and berth could not clear).
struct Target {
    point: PathBuf,
    flags: MsFlags,
    required: bool,
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix 0.29 does not name.
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// The bind mounts of `spec` with the per-mount flags their options ask for, as runc applies
/// them: a bind mount has those flags and no others (`ro` on the source is not inherited unless
/// asked for; an atime setting is kept unless one is asked for). libcontainer only adds the
/// flags asked for to the source's. Nothing for a container with a user namespace of its own,
/// where the source's flags are locked and inherited, as runc leaves them.
fn bind_flags(spec: &Spec) -> Vec<(PathBuf, MsFlags)> {
    let own_userns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == libcontainer::oci_spec::runtime::LinuxNamespaceType::User)
        });
    if own_userns {
        return Vec::new();
    }
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let options = m.options().clone().unwrap_or_default();
        let bind = m.typ().as_deref() == Some("bind")
            || options.iter().any(|o| o == "bind" || o == "rbind");
        // Without a flag among its options, a bind mount keeps the source's flags (runc's
        // rule, as mount(8) does).
        if let Some(flags) = flags_of(&options).filter(|_| bind) {
            out.push((m.destination().clone(), flags));
        }
    }
    out
}

/// The propagation changes the options of the config's mounts ask for, in their order
/// (libcontainer parses them but its mounts never apply them).
fn propagation(spec: &Spec) -> Vec<(PathBuf, MsFlags)> {
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        for o in m.options().iter().flatten() {
            let flags = match o.as_str() {
                "shared" => MsFlags::MS_SHARED,
                "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
                "slave" => MsFlags::MS_SLAVE,
                "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
                "unbindable" => MsFlags::MS_UNBINDABLE,
                "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
                // private is what libcontainer's mounts are already.
                _ => continue,
            };
            out.push((m.destination().clone(), flags));
        }
    }
    out
}

/// The per-mount flags that mount options ask for, later options winning (runc's table; the
/// recursive `r...` forms count for the mount itself too); `None` if no option is about them.
fn flags_of(options: &[String]) -> Option<MsFlags> {
    let mut flags = MsFlags::empty();
    let mut any = false;
    for o in options {
        let o = o.as_str();
        const RECURSIVE: [&str; 18] = [
            "rro",
            "rrw",
            "rnosuid",
            "rsuid",
            "rnodev",
            "rdev",
            "rnoexec",
            "rexec",
            "rnosymfollow",
            "rsymfollow",
            "rnoatime",
            "ratime",
            "rnodiratime",
            "rdiratime",
            "rrelatime",
            "rnorelatime",
            "rstrictatime",
            "rnostrictatime",
        ];
        let o = if RECURSIVE.contains(&o) { &o[1..] } else { o };
        let (set, flag) = match o {
            "ro" => (true, MsFlags::MS_RDONLY),
            "rw" => (false, MsFlags::MS_RDONLY),
            "nosuid" => (true, MsFlags::MS_NOSUID),
            "suid" => (false, MsFlags::MS_NOSUID),
            "nodev" => (true, MsFlags::MS_NODEV),
            "dev" => (false, MsFlags::MS_NODEV),
            "noexec" => (true, MsFlags::MS_NOEXEC),
            "exec" => (false, MsFlags::MS_NOEXEC),
            "nosymfollow" => (true, MS_NOSYMFOLLOW),
            "symfollow" => (false, MS_NOSYMFOLLOW),
            "noatime" => (true, MsFlags::MS_NOATIME),
            "atime" => (false, MsFlags::MS_NOATIME),
            "nodiratime" => (true, MsFlags::MS_NODIRATIME),
            "diratime" => (false, MsFlags::MS_NODIRATIME),
            "relatime" => (true, MsFlags::MS_RELATIME),
            "norelatime" => (false, MsFlags::MS_RELATIME),
            "strictatime" => (true, MsFlags::MS_STRICTATIME),
            "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
            _ => continue,
        };
        any = true;
        if set {
            flags |= flag;
        } else {
            flags &= !flag;
        }
    }
    any.then_some(flags)
}

/// In a thread of its own (its own root and working directory, then the container's mount
/// namespace and root): the cgroup view attached, then each target remounted with its flags.
fn remount_in(
    ns: File,
    root: File,
    view: Option<&cgroup_view::Detached>,
    targets: &[Target],
) -> Result<()> {
    unshare(CloneFlags::CLONE_FS).context("cannot unshare the thread's file system state")?;
    setns(&ns, CloneFlags::CLONE_NEWNS).context("cannot enter the container's mount namespace")?;
    nix::unistd::fchdir(root.as_raw_fd()).context("cannot enter the container's root")?;
    nix::unistd::chroot(".").context("cannot enter the container's root")?;
    if let Some(view) = view {
        view.attach()?;
    }
    for t in targets {
        let propagation = MsFlags::MS_SHARED | MsFlags::MS_SLAVE | MsFlags::MS_UNBINDABLE;
        let flags = if t.flags.intersects(propagation) {
            t.flags
        } else {
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | t.flags
        };
        let done = mount(None::<&str>, &t.point, None::<&str>, flags, None::<&str>);
        match done {
            Err(e) if t.required => {
                return Err(e)
                    .with_context(|| format!("cannot make {} read-only", t.point.display()))
            }
            Err(e) => tracing::warn!(
                "cannot set the flags of bind mount {}: {e}",
                t.point.display()
            ),
            Ok(()) => {}
        }
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
    fn bind_flags_as_runc_reads_options() {
        let o = |v: &[&str]| flags_of(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(o(&["rbind", "rprivate"]), None);
        assert_eq!(
            o(&["bind", "ro", "nosuid"]),
            Some(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID)
        );
        assert_eq!(o(&["bind", "ro", "rw"]), Some(MsFlags::empty()));
        assert_eq!(
            o(&["rbind", "rro", "relatime"]),
            Some(MsFlags::MS_RDONLY | MsFlags::MS_RELATIME)
        );
        assert_eq!(o(&["bind", "dev"]), Some(MsFlags::empty()));
    }

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
