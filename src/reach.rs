//! Bind mount sources that a container with a user namespace of its own cannot reach, and
//! idmapped bind mounts (see `idmap`), made by berth in the same way.
//!
//! libcontainer makes a container's bind mounts from init, which by then is root of the
//! container's user namespace: a source below a directory that only the host's root may enter
//! (mode 0700, say) cannot be found, and the create fails. runc opens such sources before init
//! enters the user namespace and hands them over as descriptors. berth makes them reachable
//! instead: for the time of the create it moves itself into a mount namespace of its own (init
//! starts from a copy of it), bind-mounts each such source onto an entry of a directory
//! anyone may enter (`/dev/shm/berth-PID`), and names that entry as the source in the config
//! libcontainer reads. The host never sees these mounts; berth returns to its own mount
//! namespace and removes the directory once libcontainer is done. Knows nothing of the
//! command line.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use libcontainer::oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::idmap::{self, Idmap};
use crate::teardown::cgroup::forget_mounted_hierarchies;

/// Sources routed through berth's directory: (entry, the real source).
#[derive(Debug, Default)]
pub struct Reach {
    dir: Option<PathBuf>,
    /// (entry, the real source, the idmapping to give it if any).
    routes: Vec<(PathBuf, PathBuf, Option<Idmap>)>,
}

impl Reach {
    /// Finds the bind sources of `spec` that the root of its user namespace cannot reach and
    /// names entries of berth's directory as their sources instead. Nothing for a container
    /// without a user namespace of its own.
    pub fn plan(spec: &mut Spec) -> Result<Reach> {
        let mut reach = Reach::default();
        if idmap::wanted(spec) {
            let linux = spec.linux().clone();
            let mut mounts = spec.mounts().clone().unwrap_or_default();
            for m in &mut mounts {
                let Some(idmap) = idmap::take(m, linux.as_ref())? else {
                    continue;
                };
                let source = m.source().clone().unwrap_or_default();
                let real = fs::canonicalize(&source)
                    .with_context(|| format!("bind mount source {}", source.display()))?;
                let entry = reach.entry(&real)?;
                m.set_source(Some(entry.clone()));
                reach.routes.push((entry, real, Some(idmap)));
            }
            spec.set_mounts(Some(mounts));
        }
        let Some(linux) = spec.linux() else {
            return Ok(reach);
        };
        let own_userns = linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        let (Some(uid), Some(gid)) = (
            host_id(linux.uid_mappings().as_deref()),
            host_id(linux.gid_mappings().as_deref()),
        ) else {
            return Ok(reach);
        };
        if !own_userns {
            return Ok(reach);
        }
        let Some(mut mounts) = spec.mounts().clone() else {
            return Ok(reach);
        };
        for m in mounts.iter_mut().filter(|m| is_bind(m)) {
            let Some(source) = m.source().clone() else {
                continue;
            };
            let Ok(real) = fs::canonicalize(&source) else {
                continue;
            };
            if reachable(&real, uid, gid) {
                continue;
            }
            let entry = reach.entry(&real)?;
            m.set_source(Some(entry.clone()));
            reach.routes.push((entry, real, None));
        }
        spec.set_mounts(Some(mounts));
        Ok(reach)
    }

    /// A new entry of berth's directory (made on first use), of the kind of `real`.
    fn entry(&mut self, real: &Path) -> Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = PathBuf::from(format!("/dev/shm/berth-{}", std::process::id()));
                fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
                self.dir = Some(dir.clone());
                dir
            }
        };
        let entry = dir.join(self.routes.len().to_string());
        if real.is_dir() {
            fs::create_dir(&entry)
        } else {
            File::create(&entry).map(drop)
        }
        .with_context(|| format!("cannot create {}", entry.display()))?;
        Ok(entry)
    }

    /// Enters a mount namespace of berth's own holding the routes' bind mounts, until the
    /// returned guard is dropped.
    pub fn enter(&self) -> Result<Entered> {
        if self.routes.is_empty() {
            return Ok(Entered { back: None });
        }
        let back =
            File::open("/proc/self/ns/mnt").context("cannot open berth's mount namespace")?;
        unshare(CloneFlags::CLONE_NEWNS).context("cannot make a mount namespace")?;
        forget_mounted_hierarchies();
        let entered = Entered { back: Some(back) };
        // The host's mounts still reach this namespace (and, through it, the container's);
        // nothing made here goes back.
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .context("cannot make the mount namespace a slave of the host's")?;
        for (entry, real, idmap) in &self.routes {
            if let Some(idmap) = idmap {
                idmap::mount(real, entry, idmap)?;
                continue;
            }
            mount(
                Some(real),
                entry,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .with_context(|| format!("cannot bind {} to {}", real.display(), entry.display()))?;
        }
        Ok(entered)
    }
}

impl Drop for Reach {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // The mounts were never in this namespace: the entries are plain.
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// berth in its own mount namespace; back in the one it came from when dropped.
pub struct Entered {
    back: Option<File>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            if let Err(e) = setns(back, CloneFlags::CLONE_NEWNS) {
                tracing::warn!("cannot return to berth's mount namespace: {e}");
            }
            // The namespace left behind is freed, and its number may come back.
            forget_mounted_hierarchies();
        }
    }
}

/// The host id that id 0 of the container maps to.
fn host_id(mappings: Option<&[LinuxIdMapping]>) -> Option<u32> {
    mappings?
        .iter()
        .find(|m| m.container_id() == 0 && m.size() > 0)
        .map(|m| m.host_id())
}

fn is_bind(m: &libcontainer::oci_spec::runtime::Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Whether a process with host ids `uid` and `gid` (and no capabilities over the host's
/// files) may look up `path`: it must be allowed to enter every directory above it. ACLs are
/// not read: a source they would open is routed all the same, which costs one mount.
fn reachable(path: &Path, uid: u32, gid: u32) -> bool {
    path.ancestors().skip(1).all(|dir| {
        let Ok(meta) = dir.metadata() else {
            return false;
        };
        let mode = meta.mode();
        mode & 0o001 != 0
            || (meta.uid() == uid && mode & 0o100 != 0)
            || (meta.gid() == gid && mode & 0o010 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_through_open_directories_only() {
        let tmp = tempfile_dir();
        let closed = tmp.join("closed");
        fs::create_dir_all(closed.join("dir")).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
        let open = tmp.join("open");
        fs::create_dir_all(open.join("dir")).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(reachable(&open.join("dir"), 100000, 100000));
        assert!(!reachable(&closed.join("dir"), 100000, 100000));
        let _ = fs::remove_dir_all(&tmp);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-reach-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
