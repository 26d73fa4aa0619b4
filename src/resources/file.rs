//! Reading and writing one cgroup file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use anyhow::{anyhow, Result};

/// Writes `value` to `dir/name` in one write(2), as the kernel wants a cgroup value (the file
/// is never created: a missing one is a missing controller).
pub fn write(dir: &Path, name: &str, value: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join(name))?;
    f.write_all(value.as_bytes())
}

/// [`write`], its failure as one line naming the file, the value and the cause. A file that
/// does not exist is a controller that is not there.
pub fn set(dir: &Path, name: &str, value: &str) -> Result<()> {
    write(dir, name, value).map_err(|e| failed(dir, name, value, &e))
}

pub fn failed(dir: &Path, name: &str, value: &str, e: &io::Error) -> anyhow::Error {
    let path = dir.join(name);
    if e.kind() == io::ErrorKind::NotFound {
        let controller = name.split('.').next().unwrap_or(name);
        anyhow!(
            "cannot set {name}: {} has no such file (is the {controller} controller enabled there?)",
            dir.display()
        )
    } else {
        anyhow!("cannot write {value:?} to {}: {e}", path.display())
    }
}

/// The trimmed contents of `dir/name`.
pub fn read(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))
}

/// A number in `dir/name`; `max` (no limit) reads as `u64::MAX`.
pub fn read_u64(dir: &Path, name: &str) -> Result<u64> {
    let text = read(dir, name)?;
    parse_u64(&text).ok_or_else(|| anyhow!("{}: not a number: {text:?}", dir.join(name).display()))
}

/// A cgroup number: `max` is `u64::MAX`; a negative one (v1's -1) is also no limit.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text {
        "max" => Some(u64::MAX),
        t if t.starts_with('-') => t.parse::<i64>().ok().map(|_| u64::MAX),
        t => t.parse().ok(),
    }
}
