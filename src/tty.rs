//! A container's terminal. berth listens on a console socket of its own whenever a process
//! wants a terminal, receives the pty master the container sends there, gives the terminal to
//! the process's user and sets its size (runc's init does both, libcontainer's neither), then
//! passes the master on to the caller's `--console-socket`, or, for a foreground `run` or
//! `exec -t` without one, puts the caller's terminal in raw mode and copies bytes both ways
//! until the process exits.

use std::fs;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, OutputFlags, SetArg, Termios};

/// What berth does to a container's terminal before its process runs, as runc's init does:
/// the terminal belongs to the process's user (its group stays devpts', `gid=5` in runc's
/// default config), and takes the process's `consoleSize`. libcontainer does neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct TtySetup {
    /// The process's uid, as the host sees it.
    pub owner: Option<u32>,
    /// Rows and columns.
    pub size: Option<(u16, u16)>,
}

/// How long berth waits for the container's terminal once libcontainer has sent it, and, when
/// the container's process may fail before it sends one, how long it holds that process back.
const TERMINAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A console socket berth serves itself: it receives the pty master the container sends, sets
/// the terminal up ([`TtySetup`]) and either keeps the master (a foreground process attached to
/// the caller's terminal) or passes it on to the caller's console socket.
pub struct ConsoleSocket {
    path: PathBuf,
    done: mpsc::Receiver<Result<Option<OwnedFd>>>,
    master: Option<Result<Option<OwnedFd>>>,
}

impl ConsoleSocket {
    /// Listens at `path` and serves one connection in the background. With `forward`, the
    /// master goes on to that socket. With `gate` (a FIFO libcontainer writes the process's
    /// pid to before it lets the process go on), the process is held back until the terminal
    /// is set up; berth opens the FIFO, and reads it, once it is.
    pub fn listen(
        path: &Path,
        setup: TtySetup,
        forward: Option<PathBuf>,
        gate: Option<PathBuf>,
    ) -> Result<ConsoleSocket> {
        let _ = fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on console socket {}", path.display()))?;
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            // Held back, the process cannot report a failure: wait for its terminal only so
            // long. Otherwise libcontainer fails on its own when the process does.
            let limit = gate.as_ref().map(|_| TERMINAL_TIMEOUT);
            let result = serve(&listener, setup, forward.as_deref(), limit);
            let _ = tx.send(result);
            if let Some(gate) = gate {
                open_gate(&gate);
            }
        });
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            done,
            master: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until the terminal is set up (and passed on, when forwarding). For a container's
    /// process that has already sent its terminal: libcontainer's create and exec return once
    /// it has.
    pub fn ready(&mut self) -> Result<()> {
        if self.master.is_none() {
            let result = self
                .done
                .recv_timeout(TERMINAL_TIMEOUT)
                .map_err(|_| anyhow!("no terminal received from the container"))
                .and_then(|r| r);
            self.master = Some(result);
        }
        match &self.master {
            Some(Err(e)) => Err(anyhow!("{e:#}")),
            _ => Ok(()),
        }
    }

    /// The pty master, once the container has sent it (none when it was passed on).
    pub fn master(mut self) -> Result<OwnedFd> {
        self.ready()?;
        match self.master.take() {
            Some(Ok(Some(master))) => Ok(master),
            _ => bail!("the container's terminal was passed on"),
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Accepts the container's connection, receives the master, sets the terminal up and passes
/// it on (then closes berth's copy) or returns it.
fn serve(
    listener: &UnixListener,
    setup: TtySetup,
    forward: Option<&Path>,
    limit: Option<Duration>,
) -> Result<Option<OwnedFd>> {
    let (stream, _) = listener
        .accept()
        .context("cannot accept the container's terminal")?;
    if let Some(limit) = limit {
        let mut pfd = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
        if nix::poll::poll(&mut pfd, PollTimeout::from(ms))? == 0 {
            bail!("no terminal received from the container within {limit:?}");
        }
    }
    let (master, name) =
        receive_fd(stream.as_raw_fd()).context("cannot receive the container's terminal")?;
    set_up(&master, setup)?;
    match forward {
        None => {
            // berth relays the terminal to its own stdout, which is likely a terminal that
            // adds its own carriage returns: as runc does, the container's pty does not.
            clear_onlcr(&master)?;
            Ok(Some(master))
        }
        Some(path) => {
            send_fd(path, &master, &name).with_context(|| {
                format!(
                    "cannot send the terminal to console socket {}",
                    path.display()
                )
            })?;
            Ok(None)
        }
    }
}

/// Owner and size of the terminal whose master is `master`.
fn set_up(master: &OwnedFd, setup: TtySetup) -> Result<()> {
    if let Some((rows, cols)) = setup.size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(io::Error::last_os_error()).context("cannot set the terminal's size");
        }
    }
    if let Some(uid) = setup.owner {
        // The slave, opened through the master: no path, whichever devpts it lives in.
        // SAFETY: TIOCGPTPEER returns a new descriptor, which we own.
        let fd = unsafe {
            libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("cannot open the terminal");
        }
        // SAFETY: fd was just returned to us.
        let slave = unsafe { OwnedFd::from_raw_fd(fd) };
        nix::unistd::fchown(
            slave.as_raw_fd(),
            Some(nix::unistd::Uid::from_raw(uid)),
            None,
        )
        .context("cannot give the terminal to the process's user")?;
    }
    Ok(())
}

/// Turns off the output translation of "\n" into "\r\n" (`ONLCR`) of the terminal whose master
/// is `master`.
fn clear_onlcr(master: &OwnedFd) -> Result<()> {
    let mut termios = tcgetattr(master.as_fd()).context("cannot read the terminal's settings")?;
    termios.output_flags.remove(OutputFlags::ONLCR);
    tcsetattr(master.as_fd(), SetArg::TCSANOW, &termios)
        .context("cannot set the terminal's settings")
}

/// Opens the FIFO `gate` for reading (which lets libcontainer's write of the pid through) and
/// reads it to its end.
fn open_gate(gate: &Path) {
    if let Ok(mut fifo) = fs::File::open(gate) {
        let mut pid = String::new();
        let _ = fifo.read_to_string(&mut pid);
    }
}

fn receive_fd(sock: RawFd) -> io::Result<(OwnedFd, Vec<u8>)> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let len = msg.bytes;
    let mut received = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed these fds in our table for us.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(fd);
            }
        }
    }
    let fd = received
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no file descriptor received"))?;
    Ok((fd, buf[..len.min(buf.len())].to_vec()))
}

/// Sends `fd` to the console socket at `path` with `name` (what the container sent along).
fn send_fd(path: &Path, fd: &OwnedFd, name: &[u8]) -> io::Result<()> {
    let stream = UnixStream::connect(path)?;
    let iov = [IoSlice::new(name)];
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    Ok(())
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
