//! Idmapped bind mounts (`"options": ["idmap"]` or `["ridmap"]`, with the mount's own
//! `uidMappings`/`gidMappings` or else the container's), which libcontainer 0.7 refuses
//! ("idmapped mount is not supported"). berth makes the idmapped mount itself, before
//! libcontainer runs (see `reach`): a user namespace holding the mappings, a detached copy of
//! the source (`open_tree`), the mappings set on it (`mount_setattr` with
//! `MOUNT_ATTR_IDMAP`), attached where libcontainer then bind-mounts it from: a copy of an
//! idmapped mount keeps its mappings. Knows nothing of the command line.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use libcontainer::oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, ForkResult};

use crate::fsutil;

/// What an idmapped mount of the config asks for.
#[derive(Debug, Clone)]
pub struct Idmap {
    uid: Vec<LinuxIdMapping>,
    gid: Vec<LinuxIdMapping>,
    /// The user namespace the container joins (no mappings of its own): the mount takes its
    /// mappings.
    userns_path: Option<std::path::PathBuf>,
    /// `ridmap`: the mounts below the source are idmapped too.
    recursive_idmap: bool,
    /// `rbind`: the mounts below the source come along.
    recursive_bind: bool,
}

/// If `m` is an idmapped bind mount: what it asks for; `m` is then rewritten as the plain bind
/// mount libcontainer can make of berth's idmapped copy (options and mappings removed).
pub fn take(
    m: &mut Mount,
    spec_linux: Option<&libcontainer::oci_spec::runtime::Linux>,
) -> Result<Option<Idmap>> {
    let options = m.options().clone().unwrap_or_default();
    let idmap = options.iter().any(|o| o == "idmap");
    let ridmap = options.iter().any(|o| o == "ridmap");
    let has_mappings = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    if !idmap && !ridmap && !has_mappings {
        return Ok(None);
    }
    let bind =
        m.typ().as_deref() == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind");
    if !bind {
        bail!(
            "mount {}: idmapped mounts must be bind mounts",
            m.destination().display()
        );
    }
    let joined = spec_linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| {
            ns.iter()
                .find(|n| n.typ() == libcontainer::oci_spec::runtime::LinuxNamespaceType::User)
        })
        .and_then(|n| n.path().clone());
    let mut userns_path = None;
    let (uid, gid) = match (m.uid_mappings().clone(), m.gid_mappings().clone()) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => (u, g),
        (None, None) => match spec_linux
            .and_then(|l| Some((l.uid_mappings().clone()?, l.gid_mappings().clone()?)))
            .filter(|(u, g)| !u.is_empty() && !g.is_empty())
        {
            Some(both) => both,
            None if joined.is_some() => {
                userns_path = joined;
                (Vec::new(), Vec::new())
            }
            None => bail!(
                "mount {}: idmapped mount without mappings, and the container has none",
                m.destination().display()
            ),
        },
        _ => bail!(
            "mount {}: uidMappings and gidMappings must be given together",
            m.destination().display()
        ),
    };
    let recursive_bind = options.iter().any(|o| o == "rbind");
    m.set_options(Some(
        options
            .into_iter()
            .filter(|o| o != "idmap" && o != "ridmap")
            .collect(),
    ));
    m.set_uid_mappings(None);
    m.set_gid_mappings(None);
    Ok(Some(Idmap {
        uid,
        gid,
        userns_path,
        recursive_idmap: ridmap,
        recursive_bind,
    }))
}

/// Whether `spec` has an idmapped mount.
pub fn wanted(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        m.uid_mappings().is_some()
            || m.gid_mappings().is_some()
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "idmap" || o == "ridmap")
    })
}

/// Mounts an idmapped copy of `source` on `target` (in berth's current mount namespace).
pub fn mount(source: &Path, target: &Path, idmap: &Idmap) -> Result<()> {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let userns = match &idmap.userns_path {
        Some(path) => OwnedFd::from(
            fs::File::open(path)
                .with_context(|| format!("cannot open user namespace {}", path.display()))?,
        ),
        None => userns_fd(&idmap.uid, &idmap.gid)?,
    };
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if idmap.recursive_bind || idmap.recursive_idmap {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(rustix::fs::CWD, source, flags)
        .with_context(|| format!("cannot open {}", source.display()))?;
    fsutil::mount_setattr(
        tree.as_fd(),
        fsutil::MOUNT_ATTR_IDMAP,
        Some(userns.as_fd()),
        idmap.recursive_idmap,
    )
    .with_context(|| format!("cannot idmap a mount of {}", source.display()))?;
    move_mount(
        &tree,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .with_context(|| format!("cannot attach the idmapped mount at {}", target.display()))?;
    Ok(())
}

/// A user namespace with the given mappings: a child of berth's enters a new one, berth writes
/// its maps and keeps a descriptor of it, the child exits.
fn userns_fd(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (ready_r, ready_w) = pipe().context("cannot make a pipe")?;
    let (done_r, done_w) = pipe().context("cannot make a pipe")?;
    // SAFETY: the child only calls unshare, write, read and _exit (async-signal-safe).
    let child = match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Child => {
            drop(ready_r);
            drop(done_w);
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_w, &[u8::from(ok)]);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(done_r.as_raw_fd(), &mut b);
            // SAFETY: leaves the forked child at once.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => child,
    };
    drop(ready_w);
    drop(done_r);
    let result = (|| {
        let mut ready = [0u8; 1];
        let mut r = fs::File::from(ready_r);
        r.read_exact(&mut ready)
            .context("the user namespace helper did not start")?;
        if ready[0] != 1 {
            bail!("cannot make a user namespace for an idmapped mount");
        }
        let map = |m: &[LinuxIdMapping]| {
            m.iter()
                .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
                .collect::<String>()
        };
        let pid = child.as_raw();
        fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/uid_map"))
            .and_then(|mut f| f.write_all(map(uid).as_bytes()))
            .context("cannot write the idmapped mount's uid map")?;
        fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/gid_map"))
            .and_then(|mut f| f.write_all(map(gid).as_bytes()))
            .context("cannot write the idmapped mount's gid map")?;
        let ns = fs::File::open(format!("/proc/{pid}/ns/user"))
            .context("cannot open the idmapped mount's user namespace")?;
        // SAFETY: we own the descriptor just opened.
        Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(ns)) })
    })();
    drop(done_w);
    let _ = waitpid(child, None);
    result
}
