//! A FUSE server that never answers: the test double for a hung FUSE daemon. It serves one empty
//! directory; a lookup of [`STUCK`] in it is read from /dev/fuse and then held without a reply,
//! so the caller waits in the kernel, and once it is SIGKILLed it waits uninterruptibly (state
//! `D`, wchan `request_wait_answer`): the kernel cannot drop a request the server has already
//! read. [`StuckFuse::answer`] replies to the held lookups; [`StuckFuse::abort`] aborts the
//! connection through fusectl, as an operator would.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, INodeNo,
    MountOption, ReplyAttr, ReplyEntry, Request,
};

/// The name whose lookup is never answered.
pub const STUCK: &str = "stuck";

const FUSECTL: &str = "/sys/fs/fuse/connections";

#[derive(Default)]
struct Held {
    replies: Mutex<Vec<ReplyEntry>>,
    arrived: Condvar,
}

struct StuckFs(Arc<Held>);

impl Filesystem for StuckFs {
    fn lookup(&self, _req: &Request, _parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if name == STUCK {
            self.0.replies.lock().unwrap().push(reply);
            self.0.arrived.notify_all();
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if ino != INodeNo::ROOT {
            return reply.error(Errno::ENOENT);
        }
        let attr = FileAttr {
            ino,
            size: 0,
            blocks: 0,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind: FileType::Directory,
            perm: 0o755,
            nlink: 2,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        };
        reply.attr(&Duration::ZERO, &attr);
    }
}

/// The mounted server; dropping it answers what it holds and unmounts.
pub struct StuckFuse {
    pub mountpoint: PathBuf,
    held: Arc<Held>,
    session: Option<BackgroundSession>,
    connection: u64,
}

impl StuckFuse {
    /// Mounts the server on `mountpoint` (created), served by a thread of the test process.
    pub fn mount(mountpoint: &Path) -> StuckFuse {
        fs::create_dir_all(mountpoint).unwrap();
        let held = Arc::new(Held::default());
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("berth-stuck".into())];
        let session = fuser::spawn_mount(StuckFs(held.clone()), mountpoint, &config)
            .unwrap_or_else(|e| panic!("cannot mount the FUSE server on {mountpoint:?}: {e}"));
        // The connection's number in fusectl is the minor number of the mount's device.
        let dev = fs::metadata(mountpoint).unwrap().dev();
        StuckFuse {
            mountpoint: mountpoint.to_path_buf(),
            held,
            session: Some(session),
            connection: libc::minor(dev) as u64,
        }
    }

    /// Waits (up to `limit`) until `n` lookups are held; false when they did not arrive.
    pub fn wait_held(&self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut replies = self.held.replies.lock().unwrap();
        while replies.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            replies = self.held.arrived.wait_timeout(replies, left).unwrap().0;
        }
        true
    }

    /// Replies ENOENT to every held lookup: the server came back.
    pub fn answer(&self) {
        for reply in self.held.replies.lock().unwrap().drain(..) {
            reply.error(Errno::ENOENT);
        }
    }

    /// Aborts the connection (fusectl's `abort`): every waiting request fails with ENOTCONN.
    pub fn abort(&self) {
        let dir = format!("{FUSECTL}/{}", self.connection);
        if !Path::new(&dir).exists() {
            // fusectl is not mounted (in this mount namespace).
            let status = std::process::Command::new("mount")
                .args(["-t", "fusectl", "fusectl", FUSECTL])
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "cannot mount fusectl on {FUSECTL}"
            );
        }
        fs::write(format!("{dir}/abort"), "1")
            .unwrap_or_else(|e| panic!("cannot abort {dir}: {e}"));
    }
}

impl Drop for StuckFuse {
    fn drop(&mut self) {
        self.answer();
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}
