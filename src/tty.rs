//! The caller's terminal for a foreground `run` or `exec -t` whose process wants a terminal and
//! no `--console-socket` was given: berth listens on a socket of its own, receives the pty
//! master the container sends there (as it would to containerd's), puts the caller's terminal in
//! raw mode and copies bytes both ways until the process exits.

use std::fs;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context as _, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// A console socket berth serves itself; `master()` yields the pty master once sent.
pub struct ConsoleSocket {
    path: PathBuf,
    receiver: Option<JoinHandle<io::Result<OwnedFd>>>,
}

impl ConsoleSocket {
    /// Listens at `path` and receives one fd in the background.
    pub fn listen(path: &Path) -> Result<ConsoleSocket> {
        let _ = fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on console socket {}", path.display()))?;
        let receiver = std::thread::spawn(move || {
            let (stream, _) = listener.accept()?;
            receive_fd(stream.as_raw_fd())
        });
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            receiver: Some(receiver),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master, once the container has sent it.
    pub fn master(mut self) -> Result<OwnedFd> {
        let receiver = self.receiver.take().expect("master() is called once");
        receiver
            .join()
            .map_err(|_| anyhow!("console socket receiver panicked"))?
            .context("cannot receive the container's terminal")
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn receive_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no file descriptor received",
    ))
}

/// The caller's terminal in raw mode while a container's terminal is attached; restored on drop.
pub struct RawTerminal {
    saved: Option<Termios>,
}

impl RawTerminal {
    pub fn enter() -> RawTerminal {
        let stdin = io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copies the caller's window size to the pty (the kernel then sends SIGWINCH to the container).
pub fn copy_window_size(master: BorrowedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize we own.
    unsafe {
        if libc::ioctl(io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Copies the caller's stdin to the pty in a background thread (it ends with berth).
pub fn forward_stdin(master: &OwnedFd) -> Result<()> {
    let mut to_pty = fs::File::from(master.try_clone()?);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to_pty.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Copies what the pty has to stdout; false once the pty is closed (EIO after the last writer).
pub fn drain_output(master: &OwnedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(master.as_raw_fd(), &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut out = io::stdout();
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
            true
        }
    }
}
