//! A container's `/sys/fs/cgroup` on a cgroup v1 (or hybrid) host, made by berth.
//!
//! Without a cgroup namespace, the cgroup mount of a config is emulated, as runc does: a tmpfs
//! with one directory per v1 hierarchy, on which the host's directory of the container's cgroup
//! in that hierarchy is bound (`cpu,cpuacct` gets a symlink per controller). libcontainer makes
//! it in init, one checked bind mount at a time after reading the mount table and its cgroups
//! anew, read-write (berth then made it read-only): a tenth of `create` on this layout.
//!
//! berth makes the same view itself, read-only from the start: the host's cgroup directories
//! are cloned in the host's mount namespace (`open_tree`), the tmpfs is made and filled while
//! detached (`fsmount`), the flags are set before anything is attached (`mount_setattr`), and
//! the thread of [`crate::finish`] that enters the container's mount namespace attaches them
//! while init waits for `start`.
//!
//! Only where the result is the same as libcontainer's: a v1 or hybrid host, berth as root, no
//! cgroup or user namespace, no mount label, no createContainer hook (it would run before the
//! view is there), the cgroup mount at /sys/fs/cgroup over a sysfs at /sys, and nothing
//! mounted, masked or made read-only over or under it afterwards. Anything else is left to
//! libcontainer. Knows nothing of the command line.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use libcgroups::common::CgroupSetup;
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{mkdirat, symlinkat, Mode, CWD};
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree, FsMountFlags,
    FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags,
};

use crate::fsutil;
use crate::teardown::cgroup::{mounted_hierarchies, Version};

/// Where the view goes (the only place berth makes it).
const DESTINATION: &str = "/sys/fs/cgroup";

/// The cgroup view berth makes for a container instead of libcontainer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupView {
    /// The container's cgroup, as libcontainer places it below each hierarchy's mount point.
    cgroup_path: PathBuf,
    read_only: bool,
}

/// The view, made and not yet attached: the tmpfs (its directories and symlinks made) and the
/// host's directory of each hierarchy, by name.
pub struct Detached {
    tmpfs: OwnedFd,
    hierarchies: Vec<(String, OwnedFd)>,
}

impl CgroupView {
    /// Takes the cgroup mount out of `prepared` (the config libcontainer gets) when berth can
    /// make the same view itself; `cgroup_path` is the container's cgroup.
    pub fn plan(prepared: &mut Spec, cgroup_path: &Path) -> Option<CgroupView> {
        let read_only = eligible(prepared)?;
        let mounts = prepared.mounts().clone()?;
        let kept = mounts
            .into_iter()
            .filter(|m| m.typ().as_deref() != Some("cgroup"))
            .collect();
        prepared.set_mounts(Some(kept));
        Some(CgroupView {
            cgroup_path: cgroup_path.to_path_buf(),
            read_only,
        })
    }

    /// Makes the view in berth's (the host's) mount namespace, detached. A hierarchy without
    /// a directory of the container's is left out, as libcontainer leaves it out.
    pub fn detach(&self) -> Result<Detached> {
        // The tmpfs first: mounts are listed in the order they were made, and readers of a
        // mount table expect a parent before its children.
        let tmpfs = tmpfs().context("cannot make its tmpfs")?;
        let rel = self
            .cgroup_path
            .strip_prefix("/")
            .unwrap_or(&self.cgroup_path);
        let mut hierarchies = Vec::new();
        for (mount, version, _) in mounted_hierarchies().context("cannot list the cgroups")? {
            let name = match mount.file_name().and_then(|n| n.to_str()) {
                Some(name) if version == Version::V1 && mount.starts_with(DESTINATION) => name,
                _ => continue,
            };
            let dir = mount.join(rel);
            let flags = OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE;
            let tree = match open_tree(CWD, &dir, flags) {
                Ok(tree) => tree,
                Err(rustix::io::Errno::NOENT) => {
                    tracing::warn!("no cgroup of the container's in {}", mount.display());
                    continue;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot bind {}", dir.display())),
            };
            if self.read_only {
                fsutil::mount_setattr(tree.as_fd(), fsutil::MOUNT_ATTR_RDONLY, None, true)
                    .with_context(|| format!("cannot make {} read-only", dir.display()))?;
            }
            hierarchies.push((name.to_string(), tree));
        }
        self.fill(&tmpfs, &hierarchies)
            .context("cannot fill its tmpfs")?;
        Ok(Detached { tmpfs, hierarchies })
    }

    /// A directory in the tmpfs for each hierarchy and a symlink for each controller of a
    /// comounted one; then the tmpfs is made read-only if asked.
    fn fill(&self, tmpfs: &OwnedFd, hierarchies: &[(String, OwnedFd)]) -> Result<()> {
        for (name, _) in hierarchies {
            mkdirat(tmpfs, name.as_str(), Mode::from_raw_mode(0o755))?;
            if name.contains(',') {
                for controller in name.split_terminator(',') {
                    symlinkat(name.as_str(), tmpfs, controller)?;
                }
            }
        }
        if self.read_only {
            fsutil::mount_setattr(tmpfs.as_fd(), fsutil::MOUNT_ATTR_RDONLY, None, false)?;
        }
        Ok(())
    }
}

/// The tmpfs the hierarchies go on, as libcontainer (and runc) make it, detached.
fn tmpfs() -> Result<OwnedFd> {
    let fs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_set_string(&fs, "source", "tmpfs")?;
    fsconfig_set_string(&fs, "mode", "755")?;
    fsconfig_create(&fs)?;
    let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    Ok(fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

impl Detached {
    /// Attaches the view at /sys/fs/cgroup of the mount namespace and root the calling thread
    /// is in (the container's).
    pub fn attach(&self) -> Result<()> {
        let at = Path::new(DESTINATION);
        let attach = |fd: &OwnedFd, to: &Path| {
            move_mount(fd, "", CWD, to, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
                .with_context(|| format!("cannot mount the cgroup view at {}", to.display()))
        };
        attach(&self.tmpfs, at)?;
        for (name, tree) in &self.hierarchies {
            attach(tree, &at.join(name))?;
        }
        Ok(())
    }
}

/// Whether berth makes the view of `spec` (and read-only if so): see the module's comment.
fn eligible(spec: &Spec) -> Option<bool> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    if !matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid)
    ) {
        return None;
    }
    let linux = spec.linux().as_ref()?;
    let own_ns = linux.namespaces().iter().flatten().any(|n| {
        matches!(
            n.typ(),
            LinuxNamespaceType::Cgroup | LinuxNamespaceType::User
        )
    });
    if own_ns || linux.mount_label().is_some() {
        return None;
    }
    let create_container_hooks = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
        .is_some_and(|h| !h.is_empty());
    if create_container_hooks {
        return None;
    }
    let mounts = spec.mounts().as_ref()?;
    let mut cgroup = mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| m.typ().as_deref() == Some("cgroup"));
    let (at, mount) = cgroup.next()?;
    let dest = Path::new(DESTINATION);
    if cgroup.next().is_some() || mount.destination() != dest {
        return None;
    }
    let sysfs_below = mounts[..at]
        .iter()
        .any(|m| m.typ().as_deref() == Some("sysfs") && m.destination() == Path::new("/sys"));
    let overlaps = |p: &Path| p.starts_with(dest) || dest.starts_with(p);
    let later = mounts[at + 1..].iter().any(|m| overlaps(m.destination()));
    let hidden = linux
        .masked_paths()
        .iter()
        .chain(linux.readonly_paths().iter())
        .flatten()
        .any(|p| overlaps(Path::new(p)));
    if !sysfs_below || later || hidden {
        return None;
    }
    Some(mount.options().iter().flatten().any(|o| o == "ro"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(edit: impl FnOnce(&mut serde_json::Value)) -> Spec {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
            "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/sys","type":"sysfs","source":"sysfs","options":["ro"]},
            {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","ro"]},
            {"destination":"/tmp","type":"tmpfs","source":"tmpfs"}],
            "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],
            "maskedPaths":["/proc/kcore","/sys/firmware"],"readonlyPaths":["/proc/sys"]}}"#,
        )
        .unwrap();
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    /// Whether this machine lets berth make a view at all (root, a v1 or hybrid host).
    fn host_allows() -> bool {
        nix::unistd::geteuid().is_root()
            && matches!(
                libcgroups::common::get_cgroup_setup(),
                Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid)
            )
    }

    #[test]
    fn plain_runc_config_is_made_by_berth_and_read_only() {
        if !host_allows() {
            return;
        }
        let mut s = spec(|_| {});
        let view = CgroupView::plan(&mut s, Path::new("/a/b")).unwrap();
        assert!(view.read_only);
        let left: Vec<_> = s
            .mounts()
            .iter()
            .flatten()
            .map(|m| m.destination().clone())
            .collect();
        assert_eq!(
            left,
            [Path::new("/proc"), Path::new("/sys"), Path::new("/tmp")]
        );
    }

    #[test]
    fn left_to_libcontainer_when_anything_else_touches_it() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<Edit> = vec![
            Box::new(|v| v["linux"]["namespaces"][1]["type"] = "cgroup".into()),
            Box::new(|v| v["linux"]["namespaces"][1]["type"] = "user".into()),
            Box::new(|v| v["linux"]["mountLabel"] = "system_u:object_r:x".into()),
            Box::new(|v| v["linux"]["maskedPaths"][0] = "/sys/fs/cgroup/memory".into()),
            Box::new(|v| v["linux"]["readonlyPaths"][0] = "/sys".into()),
            Box::new(|v| v["mounts"][3]["destination"] = "/sys/fs/cgroup/x".into()),
            Box::new(|v| v["mounts"][3]["destination"] = "/sys".into()),
            Box::new(|v| v["mounts"][2]["destination"] = "/cg".into()),
            Box::new(|v| v["mounts"][1]["type"] = "bind".into()),
            Box::new(|v| {
                v["hooks"] = serde_json::json!({"createContainer":[{"path":"/bin/true"}]})
            }),
        ];
        if !host_allows() {
            return;
        }
        assert!(eligible(&spec(|_| {})).is_some());
        for (i, edit) in cases.iter().enumerate() {
            let s = spec(|v| edit(v));
            assert_eq!(eligible(&s), None, "case {i}");
        }
    }
}
