//! `checkpoint`: berth has no CRIU support, but it checks `--parent-path` as runc does before
//! it would call CRIU, so that a caller's mistake reads as runc words it. Knows nothing of the
//! command line beyond runc's flag names.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The value of flag `name` (`--name VALUE` or `--name=VALUE`, one or two dashes) in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let Some(bare) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        if bare == name {
            return it.next().map(String::as_str);
        }
        if let Some(value) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(value);
        }
    }
    None
}

/// runc's checks of `--parent-path` (relative to `--image-path`, default `./checkpoint`): it
/// must be relative and name a directory there.
pub fn check_parent_path(args: &[String]) -> Result<()> {
    let Some(parent) = flag(args, "parent-path").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if Path::new(parent).is_absolute() {
        bail!("--parent-path must be relative");
    }
    let image = flag(args, "image-path")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("checkpoint"), PathBuf::from);
    let real = image.join(parent);
    match std::fs::metadata(&real) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("invalid --parent-path: {}: not a directory", real.display()),
        Err(e) => bail!("invalid --parent-path: {}: {e}", real.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parent_path_as_runc_checks_it() {
        assert!(check_parent_path(&args(&["ctr"])).is_ok());
        let abs = check_parent_path(&args(&["--parent-path", "/abs", "ctr"])).unwrap_err();
        assert_eq!(abs.to_string(), "--parent-path must be relative");
        let missing = check_parent_path(&args(&[
            "--image-path=/nonexistent",
            "--parent-path",
            "p",
            "c",
        ]))
        .unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("invalid --parent-path: /nonexistent/p: "));
        assert!(check_parent_path(&args(&["--image-path", "/", "--parent-path=tmp"])).is_ok());
    }
}
