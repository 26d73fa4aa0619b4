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
//! cgroup or user namespace, no mount label, the mount at /sys/fs/cgroup over a sysfs at /sys
//! with no propagation option, no other mount, masked or read-only path over or under it (or
//! reaching it through a symlink of the rootfs), and nothing that would look at it before berth
//! attaches it: no prestart, createRuntime or createContainer hook, no working directory inside.
//! Anything else is left to libcontainer. Three differences remain: the view is listed last
//! in the container's mount table, not right after /sys; a hierarchy where the container has no cgroup is left out (libcontainer binds
//! the cgroup init happens to be in); and without a PID namespace of its own, the container
//! sees its own cgroup in the hierarchies berth joins for it (libcontainer strips the path of
//! init's parent, berth, which is in that same cgroup, and binds the hierarchy's root), as
//! runc shows it. Knows nothing of the command line.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Component, Path, PathBuf};

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
    /// make the same view itself; `cgroup_path` is the container's cgroup, `rootfs` its root
    /// filesystem.
    pub fn plan(prepared: &mut Spec, cgroup_path: &Path, rootfs: &Path) -> Option<CgroupView> {
        if !host_allows() {
            return None;
        }
        let read_only = config_allows(prepared, rootfs)?;
        tracing::debug!("cgroup v1 view: made by berth, not libcontainer");
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

/// Whether this host lets berth make a view: berth as root, on a cgroup v1 or hybrid host.
fn host_allows() -> bool {
    nix::unistd::geteuid().is_root()
        && matches!(
            libcgroups::common::get_cgroup_setup(),
            Ok(CgroupSetup::Legacy | CgroupSetup::Hybrid)
        )
}

/// Propagation options of a mount, which `finish` applies to a mount libcontainer made.
const PROPAGATION: [&str; 8] = [
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "unbindable",
    "runbindable",
];

/// Whether berth makes the view of `spec`, whose root filesystem is `rootfs`, and read-only if
/// so (see the module's comment): nothing may see /sys/fs/cgroup before berth attaches the view
/// (hooks that run once libcontainer's mounts are made, init's working directory) or mount
/// there, over it or through a symlink into it.
fn config_allows(spec: &Spec, rootfs: &Path) -> Option<bool> {
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
    #[allow(deprecated)] // prestart: libcontainer still runs it
    let early_hooks = spec.hooks().as_ref().is_some_and(|h| {
        [h.prestart(), h.create_runtime(), h.create_container()]
            .into_iter()
            .any(|hooks| hooks.as_ref().is_some_and(|v| !v.is_empty()))
    });
    let dest = Path::new(DESTINATION);
    let overlaps = |p: &Path| p.starts_with(dest) || dest.starts_with(p);
    let cwd_inside = spec
        .process()
        .as_ref()
        .is_some_and(|p| p.cwd().starts_with(dest));
    if early_hooks || cwd_inside {
        return None;
    }
    let mounts = spec.mounts().as_ref()?;
    let at = mounts
        .iter()
        .position(|m| m.typ().as_deref() == Some("cgroup"))?;
    let mount = &mounts[at];
    let options = mount.options().clone().unwrap_or_default();
    if mount.destination() != dest || options.iter().any(|o| PROPAGATION.contains(&o.as_str())) {
        return None;
    }
    let sysfs_below = mounts[..at]
        .iter()
        .any(|m| m.typ().as_deref() == Some("sysfs") && m.destination() == Path::new("/sys"));
    for (i, m) in mounts.iter().enumerate() {
        let d = m.destination();
        let plain = d.is_absolute()
            && !d
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
        if i == at {
            continue;
        }
        let sysfs = i < at && m.typ().as_deref() == Some("sysfs") && d == Path::new("/sys");
        if !plain || (overlaps(d) && !sysfs) || (i > at && through_symlink(rootfs, d)) {
            return None;
        }
    }
    let hidden = linux
        .masked_paths()
        .iter()
        .chain(linux.readonly_paths().iter())
        .flatten()
        .any(|p| overlaps(Path::new(p)));
    if !sysfs_below || hidden {
        return None;
    }
    Some(options.iter().any(|o| o == "ro"))
}

/// Whether a directory on the way to `dest` in `rootfs` (or `dest` itself) is a symlink, which
/// libcontainer resolves within the rootfs: it might lead into the view.
fn through_symlink(rootfs: &Path, dest: &Path) -> bool {
    let mut path = rootfs.to_path_buf();
    for c in dest.components().skip(1) {
        path.push(c);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false, // made by libcontainer, as a directory or file
        }
    }
    false
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

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sys/fs")).unwrap();
        std::os::unix::fs::symlink("/sys/fs/cgroup", dir.path().join("cg")).unwrap();
        dir
    }

    #[test]
    fn plain_runc_config_is_made_by_berth_and_read_only() {
        let root = rootfs();
        let s = spec(|_| {});
        assert_eq!(config_allows(&s, root.path()), Some(true));
        let s = spec(|v| v["mounts"][2]["options"] = serde_json::json!(["nosuid"]));
        assert_eq!(config_allows(&s, root.path()), Some(false));
        if host_allows() {
            let mut s = spec(|_| {});
            let view = CgroupView::plan(&mut s, Path::new("/a/b"), root.path()).unwrap();
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
            Box::new(|v| v["mounts"][3]["destination"] = "/sys/fs/../fs/cgroup/x".into()),
            Box::new(|v| v["mounts"][3]["destination"] = "/cg/x".into()),
            Box::new(|v| v["mounts"][0]["destination"] = "/sys/fs".into()),
            Box::new(|v| v["mounts"][2]["destination"] = "/cg".into()),
            Box::new(|v| v["mounts"][2]["options"] = serde_json::json!(["ro", "rslave"])),
            Box::new(|v| v["mounts"][1]["type"] = "bind".into()),
            Box::new(|v| v["process"]["cwd"] = "/sys/fs/cgroup/memory".into()),
            Box::new(|v| v["hooks"] = serde_json::json!({"prestart":[{"path":"/bin/true"}]})),
            Box::new(|v| v["hooks"] = serde_json::json!({"createRuntime":[{"path":"/bin/true"}]})),
            Box::new(|v| {
                v["hooks"] = serde_json::json!({"createContainer":[{"path":"/bin/true"}]})
            }),
        ];
        let root = rootfs();
        assert!(config_allows(&spec(|_| {}), root.path()).is_some());
        for (i, edit) in cases.iter().enumerate() {
            let s = spec(|v| edit(v));
            assert_eq!(config_allows(&s, root.path()), None, "case {i}");
        }
        // Hooks that run after the view is attached leave it to berth.
        let s = spec(|v| {
            v["hooks"] = serde_json::json!({"startContainer":[{"path":"/bin/true"}],
                "poststart":[{"path":"/bin/true"}]})
        });
        assert!(config_allows(&s, root.path()).is_some());
    }
}
