//! runc-compatible log lines for `--log FILE --log-format text|json` and `--debug`.
//!
//! stderr gets one line per failure and nothing else. The log file gets that same error as
//! `{"level":"error","msg":"...","time":"..."}` (containerd reads the last such line back to
//! explain a failed create, start or exec), and, with `--debug`, every tracing event of berth and
//! libcontainer at debug level, flattened to one line each.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The log file is opened for each line, never kept open: a created container's init is a fork
/// of berth that runs berth's code until `start`, and holds every descriptor berth had when
/// it was forked. Lines logged in such a fork (libcontainer's debug events) are dropped: the
/// fork may already see the container's file system, where the path means something else.
struct Sink {
    path: PathBuf,
    format: Format,
    /// berth's own pid: forks do not write.
    pid: u32,
    /// One writer at a time, so that lines stay whole and in order.
    lock: Mutex<()>,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Opens the log file (appending) and, with `debug`, routes tracing events to it.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> Result<()> {
    if let Some(path) = path {
        let path = std::path::absolute(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        open(&path).with_context(|| format!("cannot open log file {}", path.display()))?;
        let _ = SINK.set(Sink {
            path,
            format,
            pid: std::process::id(),
            lock: Mutex::new(()),
        });
    }
    if debug && SINK.get().is_some() {
        let subscriber = tracing_subscriber::registry().with(FileLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    Ok(())
}

/// Appends one line at `level` to the log file, if there is one.
pub fn write(level: &str, msg: &str) {
    let Some(sink) = SINK.get() else { return };
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let line = match sink.format {
        Format::Json => {
            let mut line =
                serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string();
            line.push('\n');
            line
        }
        Format::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
    };
    if std::process::id() != sink.pid {
        return;
    }
    let _guard = sink.lock.lock();
    // One write(2) per line: O_APPEND keeps concurrent writers' lines whole.
    if let Ok(mut f) = open(&sink.path) {
        let _ = f.write_all(line.as_bytes());
    }
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
