//! berth's own binary, out of a container's reach (CVE-2019-5736).
//!
//! libcontainer forks a container's init, and the process of every `exec`, from berth itself:
//! until they exec the container's program, `/proc/PID/exe` of those forks is berth's binary.
//! A container process that opens it (even `O_PATH`, then reopens `/proc/self/fd/N` for
//! writing once berth has exited) writes berth's binary on the host, and the next `berth` run
//! by root runs the container's code.
//!
//! So `create`, `run` and `exec` first re-execute berth from a view of its binary that cannot
//! be written through:
//! 1. a read-only, detached bind mount of the binary (`open_tree` + `mount_setattr`, Linux
//!    5.12): no copy, and the mount belongs to no namespace a container can reach, so only a
//!    holder of `CAP_SYS_ADMIN` in the host's user namespace could make it writable again
//!    (and such a container owns the host anyway);
//! 2. else a sealed memfd copy (`F_SEAL_WRITE`, as runc 1.1.12 does): works unprivileged and
//!    on older kernels, but copies the binary each time.
//!
//! Nothing is done when the binary already cannot be written by whoever runs berth (on a
//! read-only mount, or a rootless user's view of a binary owned by root). The cost is one
//! `execve` per command (the benchmark in the README measures it).

use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use anyhow::{anyhow, Result};
use nix::fcntl::AtFlags;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mount::OpenTreeFlags;

use crate::fsutil;

/// Set for the re-executed berth, so that it never loops; removed at once.
const MARKER: &str = "_BERTH_SEALED_EXE";

/// In the re-executed berth: forgets the marker (it must not reach a container) and names the
/// process berth again (execveat names it after the descriptor, "3"). Returns whether this
/// process was re-executed.
pub fn after_reexec() -> bool {
    if std::env::var_os(MARKER).is_none() {
        return false;
    }
    std::env::remove_var(MARKER);
    let _ = nix::sys::prctl::set_name(c"berth");
    if !sealed() {
        tracing::warn!("berth's binary is still writable after re-executing from a sealed view");
    }
    true
}

/// Whether this process must re-execute before it forks into a container.
pub fn needs_sealing(reexecuted: bool) -> bool {
    !reexecuted && !sealed()
}

/// Re-executes berth, same arguments and environment plus `extra`, from a view of its binary
/// that cannot be written. Returns only on failure.
pub fn reexec_sealed(extra: &[(String, String)]) -> anyhow::Error {
    let argv: Vec<CString> = std::env::args_os().map(c_string).collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            c_string(kv)
        })
        .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| c_string(format!("{k}={v}").into())),
    );
    env.push(c_string(format!("{MARKER}=1").into()));
    let fd = match read_only_bind() {
        Ok(fd) => fd,
        Err(bind_err) => match sealed_copy() {
            Ok(fd) => fd,
            Err(copy_err) => {
                return anyhow!(
                    "cannot run from a read-only view of berth's binary (CVE-2019-5736): \
                     read-only bind mount: {bind_err}; sealed copy: {copy_err}"
                )
            }
        },
    };
    let err = nix::unistd::execveat(
        Some(fd.as_raw_fd()),
        c"",
        &argv,
        &env,
        AtFlags::AT_EMPTY_PATH,
    )
    .unwrap_err();
    anyhow!("cannot re-execute berth from a read-only view of its binary: {err}")
}

/// Whether berth's binary, as this process runs it, cannot be written: a sealed memfd, or a
/// file this process may not open for writing (read-only mount, or not its to write).
fn sealed() -> bool {
    if let Ok(exe) = File::open("/proc/self/exe") {
        if rustix::fs::fcntl_get_seals(&exe).is_ok_and(|s| s.contains(SealFlags::WRITE)) {
            return true;
        }
    }
    rustix::fs::access("/proc/self/exe", rustix::fs::Access::WRITE_OK).is_err()
}

/// A detached, read-only bind mount of berth's binary: the descriptor is the binary.
fn read_only_bind() -> Result<OwnedFd> {
    let fd = rustix::mount::open_tree(
        rustix::fs::CWD,
        "/proc/self/exe",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| anyhow!("open_tree: {e}"))?;
    fsutil::mount_setattr(fd.as_fd(), fsutil::MOUNT_ATTR_RDONLY, None, false)
        .map_err(|e| anyhow!("mount_setattr: {e}"))?;
    Ok(fd)
}

/// A copy of berth's binary in a memfd sealed against writing, growing and shrinking.
fn sealed_copy() -> Result<OwnedFd> {
    let name: &CStr = c"berth";
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // Kernels from 6.3 want executable memfds said so (vm.memfd_noexec); older ones refuse
    // the flag.
    let memfd = rustix::fs::memfd_create(name, flags | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create(name, flags))
        .map_err(|e| anyhow!("memfd_create: {e}"))?;
    let exe = File::open("/proc/self/exe").map_err(|e| anyhow!("/proc/self/exe: {e}"))?;
    let len = exe.metadata()?.len();
    let mut done = 0;
    while done < len {
        let n = rustix::fs::sendfile(memfd.as_fd(), &exe, None, (len - done) as usize)
            .map_err(|e| anyhow!("copying the binary: {e}"))?;
        if n == 0 {
            return Err(anyhow!("copying the binary: it shrank"));
        }
        done += n as u64;
    }
    rustix::fs::fcntl_add_seals(
        &memfd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )
    .map_err(|e| anyhow!("sealing the copy: {e}"))?;
    Ok(memfd)
}

fn c_string(s: OsString) -> CString {
    // Arguments and environment entries from the kernel hold no NUL.
    CString::new(s.into_vec()).unwrap_or_default()
}
