//! Finding a container under `--root`: id validation, the per-container lock, its state.
//!
//! libcontainer keeps `state.json` (and `youki_config.json`) in `ROOT/ID/`; berth adds
//! `berth.json` with what teardown needs and libcontainer does not record: init's start time
//! (so that a reused pid is never taken for init), the rootfs, and the cgroup path.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use libcontainer::config::YoukiConfig;
use libcontainer::container::{ContainerStatus, State};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::systemd::Unit;
use crate::teardown::process::Stat;
use crate::teardown::{Cgroups, Proc, Strategy};

pub const DEFAULT_ROOT: &str = "/run/berth";
const META_FILE: &str = "berth.json";
const STATE_FILE: &str = "state.json";
const LOCK_DIR: &str = ".locks";

/// runc's rule: letters, digits and `_ + - .`, not `.` or `..`; berth also caps the length at
/// what one directory name can hold.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 255
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        bail!("invalid container ID format: {id:?}");
    }
    Ok(())
}

/// The state directory given by `--root`.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
}

impl Root {
    pub fn new(path: &Path) -> Root {
        Root {
            path: path.to_path_buf(),
        }
    }

    pub fn ensure(&self) -> Result<()> {
        fs::create_dir_all(self.path.join(LOCK_DIR))
            .with_context(|| format!("cannot create state directory {}", self.path.display()))
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Takes the container's lock, waiting for whoever holds it, but not forever: after
    /// [`lock_timeout`] the container is reported busy. Every command that changes a container
    /// holds it, so that racing calls (kill against delete, say) run one at a time.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        validate_id(id)?;
        self.ensure()?;
        let path = self.path.join(LOCK_DIR).join(id);
        let timeout = lock_timeout();
        Lock::take(path, self.dir(id), timeout).map_err(|e| match e {
            LockError::Busy => anyhow!(
                "container {id} is busy: another berth command has held its lock for {}",
                humantime::format_duration(timeout)
            ),
            LockError::Other(e) => e,
        })
    }

    /// The ids of every container, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context(format!("cannot read {}", self.path.display())),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// A held container lock; released on drop. When the container does not exist (any more, or
/// never did: a failed create, a kill of an unknown id) its lock file is unlinked first, so
/// lock files never outlive their containers. Only the holder unlinks, and a waiter that then
/// gets the old inode starts over.
///
/// The lock is a POSIX record lock (fcntl `F_SETLKW`): unlike flock(2) and OFD locks, a
/// process that berth forks does not inherit it, so it is released when berth exits even while
/// the container's processes live on. Its descriptor is held by a thread of berth's with a
/// descriptor table of its own (`unshare(CLONE_FILES)`), never in the table libcontainer's
/// clone3 copies into a container's init: a created container's init runs berth's code until
/// `start` and would otherwise hold the descriptor of berth's lock file. A record lock belongs
/// to the descriptor table that took it, so it lives exactly as long as that thread holds it.
pub struct Lock {
    path: PathBuf,
    container: PathBuf,
    holder: Option<LockHolder>,
}

struct LockHolder {
    release: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

/// How long a command waits for a container's lock before it gives up: 60 s, or
/// `BERTH_LOCK_TIMEOUT` (a duration such as `500ms`, for tests). Whoever holds the lock is
/// bounded itself (teardown waits have deadlines, `exec` lets go of it before anything that can
/// block on a frozen cgroup), so a wait this long means something is wrong.
pub fn lock_timeout() -> Duration {
    std::env::var("BERTH_LOCK_TIMEOUT")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(Duration::from_secs(60))
}

enum LockError {
    /// Someone else held it for the whole timeout.
    Busy,
    Other(anyhow::Error),
}

impl Lock {
    fn take(path: PathBuf, container: PathBuf, timeout: Duration) -> Result<Lock, LockError> {
        let (locked_tx, locked_rx) = mpsc::channel::<io::Result<()>>();
        let (release, release_rx) = mpsc::channel::<()>();
        let thread_path = path.clone();
        let thread = thread::Builder::new()
            .name("berth-lock".into())
            .spawn(move || {
                // Signals are for berth's main thread (a foreground run forwards them).
                let _ = nix::sys::signal::SigSet::all().thread_block();
                let held = own_descriptor_table().and_then(|()| lock_file(&thread_path));
                drop(thread_path);
                match held {
                    Ok(file) => {
                        let _ = locked_tx.send(Ok(()));
                        // Held until the Lock is dropped (or berth exits).
                        let _ = release_rx.recv();
                        drop(file);
                    }
                    Err(e) => {
                        let _ = locked_tx.send(Err(e));
                    }
                }
            })
            .context("cannot start the lock's thread")
            .map_err(LockError::Other)?;
        let holder = LockHolder { release, thread };
        match locked_rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(Lock {
                path,
                container,
                holder: Some(holder),
            }),
            Ok(Err(e)) => {
                let _ = holder.thread.join();
                Err(LockError::Other(
                    anyhow::Error::new(e).context(format!("cannot lock {}", path.display())),
                ))
            }
            // The thread stays blocked in fcntl (it cannot be woken); dropping `release` makes
            // it let go of the lock at once should it ever get it, and it ends with berth.
            Err(mpsc::RecvTimeoutError::Timeout) => Err(LockError::Busy),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = holder.thread.join();
                Err(LockError::Other(anyhow!(
                    "cannot lock {}: the lock's thread ended",
                    path.display()
                )))
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.container.exists() {
            let _ = fs::remove_file(&self.path);
        }
        if let Some(holder) = self.holder.take() {
            let _ = holder.release.send(());
            let _ = holder.thread.join();
        }
    }
}

/// Gives the calling thread a descriptor table of its own, holding nothing: what it opens
/// from now on is invisible to the rest of berth and to the processes berth forks.
fn own_descriptor_table() -> io::Result<()> {
    // SAFETY: unshare(CLONE_FILES) and close_range act on this thread's own table; the
    // descriptors closed are this thread's copies, not the process's.
    unsafe {
        if libc::unshare(libc::CLONE_FILES) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    }
    Ok(())
}

/// Opens and locks the lock file at `path`, starting over when a delete unlinked it meanwhile.
fn lock_file(path: &Path) -> io::Result<File> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        lock_exclusive(&file)?;
        // A delete unlinks the lock file while holding it; whoever was waiting on the old
        // inode must start over on the new one.
        let held = file.metadata()?;
        match fs::symlink_metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(file),
            _ => continue,
        }
    }
}

/// fcntl F_SETLKW on the whole file, retried when interrupted.
fn lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed flock is a valid value; the fields set select a write lock on the
    // whole file.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    loop {
        // SAFETY: fcntl with F_SETLKW reads the flock struct we own.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &fl) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// What berth records beside libcontainer's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    pub init_start_time: Option<u64>,
    pub rootfs: PathBuf,
    pub cgroup_path: PathBuf,
    pub private_pidns: bool,
    /// The scope unit libcontainer's systemd driver made (`--systemd-cgroup`); its cgroup is
    /// where the container's processes are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<Unit>,
    /// A rootless container without a cgroup (see `rootless`): its processes are those of its
    /// PID namespace, gone when init is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_cgroup: bool,
}

/// What `state` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// One container as found on disk.
pub struct Container {
    pub id: String,
    pub dir: PathBuf,
    pub state: State,
    pub meta: Option<Meta>,
}

impl Container {
    /// Reads container `id`. A missing directory is `container does not exist`; a state file
    /// that cannot be read says so (and `delete -f` can still clean up after it).
    pub fn load(root: &Root, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = root.dir(id);
        let state_path = dir.join(STATE_FILE);
        let text = match fs::read(&state_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                bail!("container does not exist")
            }
            Err(e) => bail!("cannot read container state {}: {e}", state_path.display()),
        };
        let state: State = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "container state {} is corrupt ({e}); `delete -f` removes it",
                state_path.display()
            )
        })?;
        let meta = fs::read(dir.join(META_FILE))
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok());
        Ok(Container {
            id: id.to_string(),
            dir,
            state,
            meta,
        })
    }

    /// [`Container::load`] for a reader that holds no lock (`state`, `list`, `ps`).
    /// libcontainer rewrites state.json in place (truncate, then write) under the container's
    /// lock, so a reader racing that write can see it half-written: a state that does not parse
    /// is read again under the lock before it is called corrupt.
    pub fn load_unlocked(root: &Root, id: &str) -> Result<Container> {
        Container::load(root, id).or_else(|first| {
            if !root.dir(id).join(STATE_FILE).exists() {
                return Err(first);
            }
            let _lock = root.lock(id)?;
            Container::load(root, id)
        })
    }

    /// Init's pid as recorded, whether or not it still runs.
    pub fn recorded_pid(&self) -> Option<i32> {
        self.state.pid.filter(|p| *p > 0)
    }

    /// A handle on init when it still runs (a reused pid does not count).
    pub fn init(&self, strategy: Strategy) -> Option<Proc> {
        let pid = self.recorded_pid()?;
        let start = self.meta.as_ref().and_then(|m| m.init_start_time);
        Proc::open(pid, strategy == Strategy::Pidfd, start)
            .ok()
            .flatten()
    }

    /// Whether init runs, judged by /proc alone (cheap, for `state` and `list`).
    pub fn init_running(&self) -> bool {
        let Some(pid) = self.recorded_pid() else {
            return false;
        };
        let expected = self.meta.as_ref().and_then(|m| m.init_start_time);
        Stat::read(pid).is_some_and(|s| !s.exited() && expected.is_none_or(|e| e == s.start_time))
    }

    pub fn status(&self) -> Status {
        if !self.init_running() {
            return Status::Stopped;
        }
        match self.state.status {
            ContainerStatus::Creating => Status::Creating,
            ContainerStatus::Created => Status::Created,
            ContainerStatus::Running => Status::Running,
            ContainerStatus::Paused => Status::Paused,
            ContainerStatus::Stopped => Status::Stopped,
        }
    }

    /// The cgroup path libcontainer put the container in: berth's record, libcontainer's, or
    /// the cgroup named after the container ([`find_cgroup`]), never a guess.
    pub fn cgroup_path(&self) -> Result<PathBuf> {
        if let Some(meta) = &self.meta {
            return Ok(meta.cgroup_path.clone());
        }
        match YoukiConfig::load(&self.dir) {
            Ok(c) => Ok(c.cgroup_path),
            Err(_) if create_unfinished(&self.dir) => {
                Ok(find_cgroup(&self.id).unwrap_or_else(|_| default_cgroup_path(&self.id)))
            }
            Err(youki) => find_cgroup(&self.id).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read berth.json nor youki_config.json ({youki}), and {e}; the state is kept"
                )
            }),
        }
    }

    /// The scope unit of a container created with `--systemd-cgroup` on a systemd host.
    pub fn unit(&self) -> Option<&Unit> {
        self.meta.as_ref().and_then(|m| m.systemd.as_ref())
    }

    pub fn cgroups(&self) -> Result<Cgroups> {
        if self.no_cgroup() {
            return Ok(Cgroups::default());
        }
        let path = match self.unit() {
            Some(unit) => unit.cgroup.clone(),
            None => self.cgroup_path()?,
        };
        Cgroups::locate(&path).context("cannot find the container's cgroups")
    }

    /// A rootless container without a cgroup.
    pub fn no_cgroup(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.no_cgroup)
    }

    /// Fails, naming `what`, for a container without a cgroup.
    pub fn require_cgroup(&self, what: &str) -> Result<()> {
        if self.no_cgroup() {
            bail!(
                "cannot {what}: the container has no cgroup (rootless, and the user has no \
                 delegated cgroup)"
            );
        }
        Ok(())
    }

    /// Whether init has a PID namespace of its own (unknown: no).
    pub fn private_pidns(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.private_pidns)
    }

    pub fn rootfs(&self) -> PathBuf {
        self.meta
            .as_ref()
            .map(|m| m.rootfs.clone())
            .unwrap_or_default()
    }

    pub fn set_status(&mut self, status: ContainerStatus) -> Result<()> {
        self.state.status = status;
        self.save_state()
    }

    /// Writes `state` back to state.json.
    pub fn save_state(&self) -> Result<()> {
        let data = serde_json::to_vec(&self.state)?;
        write_atomic(&self.dir.join(STATE_FILE), &data).context("cannot save container state")
    }

    pub fn save_meta(dir: &Path, meta: &Meta) -> Result<()> {
        write_atomic(&dir.join(META_FILE), &serde_json::to_vec(meta)?)
            .context("cannot save container metadata")
    }
}

/// berth writes berth.json (atomically) when `create` has finished: without it, the create was
/// interrupted, and its only processes are libcontainer's forks of berth, found by their command
/// line (`lifecycle::kill_interrupted_launch`); its cgroup may not exist yet. A berth.json that
/// exists but cannot be read is damage, and no reason to guess.
pub fn create_unfinished(dir: &Path) -> bool {
    matches!(fs::symlink_metadata(dir.join(META_FILE)), Err(e) if e.kind() == io::ErrorKind::NotFound)
}

/// The cgroup of container `id` when nothing recorded says where it is: libcontainer's default
/// path if it exists, else the one cgroup directory, in any hierarchy, named after the
/// container as runtimes' callers name them (`ID`, `:youki:ID`, `PREFIX-ID.scope`). None, or
/// several that differ, is an error: berth cannot be sure where the processes are.
pub fn find_cgroup(id: &str) -> Result<PathBuf> {
    let default = default_cgroup_path(id);
    if Cgroups::locate(&default).is_ok_and(|c| !c.hierarchies.is_empty()) {
        return Ok(default);
    }
    let scope = format!("-{id}.scope");
    let youki = format!(":youki:{id}");
    let found = crate::teardown::cgroup::find_named(
        &|name| name == id || name == youki || name.ends_with(&scope),
        8,
    )
    .map_err(|e| anyhow!("cannot read the cgroup hierarchies: {e}"))?;
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(path), None) => Ok(path),
        (None, _) => bail!("no cgroup named after the container was found"),
        (Some(a), Some(b)) => bail!(
            "more than one cgroup is named after the container ({} and {})",
            a.display(),
            b.display()
        ),
    }
}

/// libcontainer's cgroup path for a container whose config.json names none.
pub fn default_cgroup_path(id: &str) -> PathBuf {
    PathBuf::from(format!(":youki:{id}"))
}

/// A container as `state` and `list` show it (runc's field names and order).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    #[serde(skip)]
    pub creator: Option<u32>,
}

impl Report {
    /// `list` shows the creator's user name (`state` leaves `owner` empty, as runc does).
    pub fn list_owner(&self) -> String {
        let uid = self.creator.unwrap_or(0);
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| format!("#{uid}"))
    }
}

impl Container {
    pub fn report(&self) -> Report {
        let status = self.status();
        Report {
            oci_version: self.state.oci_version.clone(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.recorded_pid().unwrap_or(0)
            },
            status: status.as_str().to_string(),
            bundle: self.state.bundle.clone(),
            rootfs: self.rootfs(),
            created: self
                .state
                .created
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            owner: String::new(),
            annotations: self.state.annotations.clone().filter(|a| !a.is_empty()),
            creator: self.state.creator,
        }
    }
}
