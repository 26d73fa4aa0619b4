//! runc-compatible log lines for `--log FILE --log-format text|json` and `--debug`.
//!
//! Without `--debug`, stderr gets one line per failure and nothing else, and the log file gets
//! that same error as `{"level":"error","msg":"...","time":"..."}` (containerd reads the last
//! such line back to explain a failed create, start or exec). With `--debug`, every tracing
//! event of berth and libcontainer at debug level is logged too, flattened to one line each:
//! to the log file, or to stderr when there is no `--log` (as runc does).
//!
//! That includes the events of libcontainer's forks of berth (the processes that set up a
//! container's namespaces and become its init or exec'd process): they send their lines over a
//! datagram socket, and berth writes what arrived before each line of its own and at exit, so
//! the log reads in order.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Where lines go.
enum Dest {
    /// `--log FILE`: opened for each line, never kept open. A created container's init is a
    /// fork of berth that runs berth's code until `start`, and holds every descriptor berth had
    /// when it was forked; the fork may also already see the container's file system, where the
    /// path means something else. So forks never write here themselves (see [`Forks`]).
    File(PathBuf),
    /// `--debug` without `--log`: debug lines on stderr. The errors are not repeated there
    /// (`main` prints each as one line already).
    Stderr,
}

struct Sink {
    dest: Dest,
    format: Format,
    /// berth's own pid: lines logged by another process are a fork's.
    pid: u32,
    /// One writer at a time, so that lines stay whole and in order.
    lock: Mutex<()>,
    /// With `--debug`: how the forks' lines reach berth.
    forks: Option<Forks>,
}

/// A datagram socket pair, both ends close-on-exec and non-blocking: a fork sends each line on
/// `send` (one datagram, one line; dropped if berth is gone or 512 lines behind, the kernel's
/// `net.unix.max_dgram_qlen`: never blocking the fork, never a SIGPIPE) and berth reads them
/// from `recv`. A fork closes its copy of `recv` when it
/// logs its first line, so that once berth has exited the fork's lines go nowhere; a created
/// container's init keeps `send` until it executes the container's program at `start`.
struct Forks {
    send: OwnedFd,
    /// A raw descriptor (-1 once closed): a fork closes its copy, which `OwnedFd` in a static
    /// cannot do.
    recv: AtomicI32,
}

/// The longest message a fork sends, in bytes (longer ones are cut).
const FORK_MSG_MAX: usize = 8 * 1024;
/// What berth reads a fork's line into: the message, escaped (at most 6 bytes for one, as
/// `\u001b`), with its time and level.
const FORK_LINE_MAX: usize = 6 * FORK_MSG_MAX + 1024;

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sets up logging: errors (and, with `debug`, every tracing event) to `path` appended; with
/// `debug` and no `path`, debug lines to stderr.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> Result<()> {
    let dest = match path {
        Some(path) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            open(&path).with_context(|| format!("cannot open log file {}", path.display()))?;
            Dest::File(path)
        }
        None if debug => Dest::Stderr,
        None => return Ok(()),
    };
    let forks = if debug {
        let (send, recv) = socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        )
        .context("cannot create the socket for debug logging")?;
        Some(Forks {
            send,
            recv: AtomicI32::new(recv.into_raw_fd()),
        })
    } else {
        None
    };
    let _ = SINK.set(Sink {
        dest,
        format,
        pid: std::process::id(),
        lock: Mutex::new(()),
        forks,
    });
    if debug {
        let subscriber = tracing_subscriber::registry().with(FileLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    Ok(())
}

/// Logs the error berth reports (`main` prints it on stderr itself).
pub fn error(msg: &str) {
    if matches!(
        SINK.get(),
        Some(Sink {
            dest: Dest::File(_),
            ..
        })
    ) {
        write("error", msg);
    }
}

/// Logs one line at `level`, if there is a log.
pub fn write(level: &str, msg: &str) {
    let Some(sink) = SINK.get() else { return };
    if std::process::id() != sink.pid {
        // A fork of libcontainer's: hand the line to berth. No lock here: another thread of
        // berth's may have held it when the fork was made, and the fork's copy stays locked.
        if let Some(forks) = &sink.forks {
            let recv = forks.recv.swap(-1, Ordering::Relaxed);
            if recv >= 0 {
                // SAFETY: this fork's copy of berth's descriptor; nothing else uses it here.
                unsafe { libc::close(recv) };
            }
            let line = sink.format(level, truncate(msg, FORK_MSG_MAX));
            let _ = nix::unistd::write(&forks.send, line.as_bytes());
        }
        return;
    }
    let _guard = sink.lock.lock();
    // The forks' lines first, then this one's time: the log reads in order.
    sink.drain_forks();
    sink.emit(sink.format(level, msg).as_bytes());
}

/// Writes what the forks logged and berth has not yet. Called at exit.
pub fn flush() {
    let Some(sink) = SINK.get() else { return };
    if std::process::id() == sink.pid {
        let _guard = sink.lock.lock();
        sink.drain_forks();
    }
}

/// Calls [`flush`] when dropped: `main` holds one, so whatever way it returns, the forks' last
/// lines are written.
pub struct FlushOnDrop;

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        flush();
    }
}

impl Sink {
    fn format(&self, level: &str, msg: &str) -> String {
        let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        match self.format {
            Format::Json => {
                let mut line =
                    serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string();
                line.push('\n');
                line
            }
            Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
        }
    }

    /// One write(2) per line: O_APPEND keeps concurrent writers' lines whole.
    fn emit(&self, line: &[u8]) {
        match &self.dest {
            Dest::File(path) => {
                if let Ok(mut f) = open(path) {
                    let _ = f.write_all(line);
                }
            }
            Dest::Stderr => {
                let _ = std::io::stderr().lock().write_all(line);
            }
        }
    }

    fn drain_forks(&self) {
        let Some(forks) = &self.forks else { return };
        let mut buf = vec![0u8; FORK_LINE_MAX];
        // Non-blocking: ends at EAGAIN, once every line sent so far is read.
        let recv = forks.recv.load(Ordering::Relaxed);
        while let Ok(n @ 1..) = nix::unistd::read(recv, &mut buf) {
            self.emit(&buf[..n]);
        }
    }
}

/// At most `max` bytes of `msg`, cut at a character boundary.
fn truncate(msg: &str, max: usize) -> &str {
    if msg.len() <= max {
        return msg;
    }
    let mut end = max;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    &msg[..end]
}

/// The log file, for appending (created if missing; symlinks followed, as runc does).
fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

struct FileLayer;

impl<S: Subscriber> Layer<S> for FileLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: LayerContext<'_, S>) -> bool {
        *metadata.level() <= Level::DEBUG
    }

    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let mut v = Flatten::default();
        event.record(&mut v);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            _ => "debug",
        };
        // Library errors are details, not the failure the caller is told about: containerd
        // takes the last "error" line as the reason, and that must be berth's own.
        let level = if level == "error" { "warning" } else { level };
        write(level, &format!("{}: {}", event.metadata().target(), v.line));
    }
}

#[derive(Default)]
struct Flatten {
    line: String,
}

impl Visit for Flatten {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.line.is_empty() {
            self.line.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.line, "{value:?}");
        } else {
            let _ = write!(self.line, "{}={value:?}", field.name());
        }
        if self.line.contains('\n') {
            self.line = self.line.replace('\n', " ");
        }
    }
}
