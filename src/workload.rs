//! How a container's process starts its program, as runc does it: berth's own libcontainer
//! `Executor`, used for init and for exec'd processes alike. It runs in libcontainer's fork,
//! inside the container, after the process has its user, capabilities and working directory.
//!
//! What differs from libcontainer's default executor:
//! - the program must be executable *for the process* (`faccessat(X_OK, AT_EACCESS)`, which
//!   honours its uid and capabilities: `CAP_DAC_OVERRIDE` runs a file only its owner may
//!   run), not have an "x" bit for others;
//! - when `execve` fails (a bad interpreter line, say) the error is runc's:
//!   `exec /run.sh: no such file or directory`; init, which fails after `start` has returned,
//!   writes it to its stderr;
//! - a process without `PATH` in its environment is started as runc starts it: its program
//!   looked up in berth's own `PATH`, the environment as given (libcontainer refuses it);
//! - the environment keeps the config's order (libcontainer hands it over as a map), `HOME`
//!   last when the config has none, as runc orders it;
//! - `HOME`, when the environment has none, is the home directory of the process's user in the
//!   container's `/etc/passwd`, else `/`, read by berth as runc reads it: as a file, never
//!   through the C library's NSS (see [`stand_in_home`]).
//!
//! Knows nothing of the command line.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libcontainer::oci_spec::runtime::{Process, Spec};
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use nix::errno::Errno;
use nix::unistd::{self, AccessFlags};

#[derive(Clone, Default)]
pub struct RuncExecutor {
    /// Whether a failed `execve` is written to the process's stderr: for a container's init,
    /// which fails after `start` has returned, so nobody else can report it. An exec'd
    /// process's failure reaches berth, which reports it.
    report_exec_error: bool,
    /// berth's own `PATH`: where a program is looked up when the process's environment has no
    /// `PATH` (runc's rule; the process's environment stays as given).
    own_path: String,
    /// Whether the process's `HOME` is berth's stand-in, to be replaced by the user's home
    /// directory from the container's `/etc/passwd` ([`stand_in_home`]).
    home_from_passwd: bool,
    /// That home, once read: in `validate`, before init's seccomp filter is loaded (berth's
    /// reading of the file must neither be refused by the profile nor reach its agent).
    home: OnceLock<Option<String>>,
}

impl RuncExecutor {
    /// `home_from_passwd`: what [`stand_in_home`] returned for the process libcontainer got.
    pub fn new(report_exec_error: bool, home_from_passwd: bool) -> RuncExecutor {
        RuncExecutor {
            report_exec_error,
            own_path: std::env::var("PATH").unwrap_or_default(),
            home_from_passwd,
            home: OnceLock::new(),
        }
    }

    /// The user's home from the container's `/etc/passwd`, read once. Here the process is in
    /// the container with its user and capabilities: it reads the file as runc's init does.
    fn passwd_home(&self) -> Option<String> {
        self.home
            .get_or_init(|| passwd_home(Path::new(PASSWD), unistd::getuid().as_raw()))
            .clone()
    }

    /// The process's `PATH`, else berth's.
    fn path_var(&self, spec: &Spec) -> String {
        spec.process()
            .as_ref()
            .and_then(|p| p.env().as_ref())
            .and_then(|env| env.iter().rev().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or(&self.own_path)
            .to_string()
    }
}

impl Executor for RuncExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = args(spec).ok_or(ExecutorError::InvalidArg)?;
        let path = match look_path(&args[0], &self.path_var(spec)) {
            Ok(path) => path,
            Err(e) => return Err(ExecutorError::Other(e.message(&args[0]))),
        };
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| ExecutorError::InvalidArg)?;
        let c_args = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ExecutorError::InvalidArg)?;
        let mut spec_env = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        if self.home_from_passwd {
            // berth's stand-in, not the config's: HOME goes last, as when the config has none.
            spec_env.retain(|e| !e.starts_with("HOME="));
        }
        let current: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let c_env = ordered_env(&spec_env, &current)
            .into_iter()
            .map(CString::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ExecutorError::InvalidArg)?;
        tracing::debug!("executing {} with args {args:?}", path.display());
        // Only returns on failure.
        let err = unistd::execve(&c_path, &c_args, &c_env).unwrap_err();
        let line = exec_error_line(&path, err);
        if self.report_exec_error {
            let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
        }
        Err(ExecutorError::Other(line))
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        if self.home_from_passwd {
            // libcontainer calls validate before setup_envs, and berth loads init's filter
            // right after this validate (`seccomp::FilterExecutor`).
            self.passwd_home();
        }
        let Some(args) = args(spec) else {
            return Ok(());
        };
        look_path(&args[0], &self.path_var(spec))
            .map(|path| tracing::debug!("found executable {}", path.display()))
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.message(&args[0])))
    }

    fn setup_envs(&self, mut envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        if self.home_from_passwd {
            match self.passwd_home() {
                Some(home) => envs.insert("HOME".to_string(), home),
                None => envs.remove("HOME"),
            };
        }
        default_home(&mut envs);
        for (key, _) in std::env::vars_os() {
            // SAFETY: libcontainer's fork is single-threaded here (its default executor does
            // the same).
            unsafe { std::env::remove_var(key) };
        }
        for (key, value) in &envs {
            // SAFETY: as above.
            unsafe { std::env::set_var(key, value) };
        }
        Ok(())
    }
}

/// The process's environment (`current`: what libcontainer settled, from a map) in runc's
/// order: the config's variables in the order of their last occurrence, then the others
/// (`HOME` when the config has none or an empty one, libcontainer's `LISTEN_FDS`...), sorted.
pub fn ordered_env(spec_env: &[String], current: &[(String, String)]) -> Vec<String> {
    let mut keys: Vec<&str> = Vec::new();
    for kv in spec_env.iter().rev() {
        let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
        if key == "HOME" && value.is_empty() {
            continue;
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.reverse();
    let mut rest: Vec<&str> = current
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !keys.contains(k))
        .collect();
    rest.sort_unstable();
    keys.extend(rest);
    keys.iter()
        .filter_map(|k| {
            current
                .iter()
                .find(|(ck, _)| ck == k)
                .map(|(_, v)| format!("{k}={v}"))
        })
        .collect()
}

/// The user database a container's process reads its home directory from.
const PASSWD: &str = "/etc/passwd";

/// Whether a process's environment leaves it without a `HOME`: none, or (as libcontainer reads
/// the list, the last one counting) an empty one.
fn lacks_home(process: &Process) -> bool {
    process
        .env()
        .as_ref()
        .and_then(|env| env.iter().rev().find_map(|e| e.strip_prefix("HOME=")))
        .is_none_or(str::is_empty)
}

/// Gives a process without a `HOME` of its own a stand-in (`HOME=/`) before libcontainer sees
/// it; returns whether it did, and then berth's executor replaces the stand-in (see
/// [`RuncExecutor::new`]).
///
/// libcontainer fills a missing `HOME` itself, in the process, from `getpwuid`: the C
/// library's NSS, which, after `pivot_root`, reads the container's `/etc/nsswitch.conf` and
/// loads the modules it names (`libnss_NAME.so.2`) from the container's filesystem. That is
/// code of the image's running in berth's process before the container's program: at `create`
/// already, with berth's descriptors (the sockets to the runtime among them), before the
/// seccomp filter berth loads and before the exec that applies an LSM profile. With a `HOME`
/// in its environment libcontainer asks nothing.
pub fn stand_in_home(process: &mut Process) -> bool {
    if !lacks_home(process) {
        return false;
    }
    let mut env = process.env().clone().unwrap_or_default();
    env.push("HOME=/".to_string());
    process.set_env(Some(env));
    true
}

/// The most of a passwd file berth reads: a bound on the memory a file without line ends
/// could take.
const PASSWD_MAX: u64 = 16 << 20;

/// The home directory of `uid` in the passwd file at `path`, read as runc reads it (the first
/// entry with that uid; `NAME:PASSWORD:UID:GID:GECOS:HOME:SHELL`); `None` without such an
/// entry, with an empty home (runc's HOME is then empty, berth's `/`, as before it read the
/// file itself), a home that is not UTF-8, or when the file cannot be read. Only a regular
/// file is read: a FIFO or a device there must not stop the process or become its terminal.
fn passwd_home(path: &Path, uid: u32) -> Option<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.file_type().is_file() {
        return None;
    }
    let home = BufReader::new(file.take(PASSWD_MAX))
        .split(b'\n')
        .map_while(Result::ok)
        .find_map(|line| {
            let fields: Vec<&[u8]> = line.trim_ascii().split(|&b| b == b':').collect();
            let entry_uid = std::str::from_utf8(fields.get(2)?).ok()?.trim();
            (entry_uid.parse::<u32>().ok()? == uid)
                .then(|| fields.get(5).copied().unwrap_or_default().to_vec())
        })?;
    String::from_utf8(home).ok().filter(|home| !home.is_empty())
}

/// runc's `HOME` for a user without a passwd entry.
pub fn default_home(envs: &mut HashMap<String, String>) {
    if envs.get("HOME").is_none_or(|h| h.is_empty()) {
        envs.insert("HOME".to_string(), "/".to_string());
    }
}

fn args(spec: &Spec) -> Option<&Vec<String>> {
    spec.process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .filter(|a| !a.is_empty())
}

/// Why a program cannot be started.
#[derive(Debug, PartialEq, Eq)]
pub enum LookError {
    NotFound,
    NotExecutable(PathBuf),
}

impl LookError {
    /// The message: libcontainer's for a missing program (berth's error reporting turns it into
    /// runc's), runc's for one the process may not execute.
    fn message(&self, name: &str) -> String {
        match self {
            LookError::NotFound => format!("executable '{name}' not found in $PATH"),
            LookError::NotExecutable(path) => {
                format!("exec: {:?}: permission denied", path.display().to_string())
            }
        }
    }
}

/// The program `name` names: itself if it has a slash, else the first executable file of that
/// name in `path_var`'s directories (an empty one is the working directory).
pub fn look_path(name: &str, path_var: &str) -> Result<PathBuf, LookError> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return match executable(&path) {
            Check::Yes => Ok(path),
            Check::Denied => Err(LookError::NotExecutable(path)),
            Check::Missing => Err(LookError::NotFound),
        };
    }
    let mut denied = None;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let path = Path::new(dir).join(name);
        match executable(&path) {
            Check::Yes => return Ok(path),
            Check::Denied => {
                denied.get_or_insert(path);
            }
            Check::Missing => {}
        }
    }
    Err(denied.map_or(LookError::NotFound, LookError::NotExecutable))
}

enum Check {
    Yes,
    Denied,
    Missing,
}

/// Whether the process may execute `path`: a file (not a directory) that the kernel says it
/// may execute, with its effective ids and capabilities. An answer other than yes or no (a
/// seccomp profile refusing `faccessat`, say) leaves the decision to `execve`.
fn executable(path: &Path) -> Check {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Check::Denied,
        Ok(_) => {}
        Err(_) => return Check::Missing,
    }
    match unistd::faccessat(
        None,
        path,
        AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    ) {
        Err(Errno::EACCES) => Check::Denied,
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Check::Missing,
        _ => Check::Yes,
    }
}

/// runc's line for a failed `execve`: `exec PATH: ERROR`, the error as Go words it (the C
/// library's text with a lower-case first letter).
pub fn exec_error_line(path: &Path, err: Errno) -> String {
    let desc = err.desc();
    let mut chars = desc.chars();
    let desc = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect::<String>(),
        None => format!("errno {}", err as i32),
    };
    format!("exec {}: {desc}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_error_reads_like_runc() {
        assert_eq!(
            exec_error_line(Path::new("/run.sh"), Errno::ENOENT),
            "exec /run.sh: no such file or directory"
        );
        assert_eq!(
            exec_error_line(Path::new("/x"), Errno::ENOEXEC),
            "exec /x: exec format error"
        );
    }

    #[test]
    fn environment_in_runc_order() {
        let spec: Vec<String> = ["B=1", "HOME=", "A=2", "B=3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let current: Vec<(String, String)> = [("A", "2"), ("HOME", "/root"), ("B", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(ordered_env(&spec, &current), ["A=2", "B=3", "HOME=/root"]);
    }

    #[test]
    fn home_defaults_to_root_dir() {
        let mut envs = HashMap::new();
        default_home(&mut envs);
        assert_eq!(envs["HOME"], "/");
        let mut envs = HashMap::from([("HOME".to_string(), String::new())]);
        default_home(&mut envs);
        assert_eq!(envs["HOME"], "/");
        let mut envs = HashMap::from([("HOME".to_string(), "/home/u".to_string())]);
        default_home(&mut envs);
        assert_eq!(envs["HOME"], "/home/u");
    }

    #[test]
    fn home_is_read_from_passwd_as_runc_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/sh\n\
             \x20 u:x:1000:1000::/home/u:/bin/sh \r\n\
             again:x:1000:1000::/other:/bin/sh\n\
             nohome:x:2000:2000:::/bin/sh\n\
             not a line\n\
             short:x:3000\n"
                .bytes()
                .chain(*b"latin1:x:5000:5000::/home/\xe9:/bin/sh\n")
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        assert_eq!(passwd_home(&passwd, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(&passwd, 1000).as_deref(), Some("/home/u"));
        assert_eq!(passwd_home(&passwd, 2000), None);
        assert_eq!(passwd_home(&passwd, 3000), None);
        assert_eq!(passwd_home(&passwd, 4242), None);
        // Not UTF-8: no HOME from it (libcontainer skipped such a home too).
        assert_eq!(passwd_home(&passwd, 5000), None);
        assert_eq!(passwd_home(&dir.path().join("missing"), 0), None);
        // A FIFO is not read (opening it for reading would wait for a writer).
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(passwd_home(&fifo, 0), None);
        assert_eq!(passwd_home(Path::new("/dev/zero"), 0), None);
    }

    #[test]
    fn only_a_process_without_home_gets_the_stand_in() {
        let with = |env: &[&str]| {
            let mut p = Process::default();
            p.set_env(Some(env.iter().map(|e| e.to_string()).collect()));
            p
        };
        for env in [&[][..], &["PATH=/bin"], &["HOME="], &["HOME=/x", "HOME="]] {
            let mut p = with(env);
            assert!(lacks_home(&p), "{env:?}");
            assert!(stand_in_home(&mut p), "{env:?}");
            assert_eq!(p.env().as_ref().unwrap().last().unwrap(), "HOME=/");
            assert!(!lacks_home(&p));
        }
        for env in [&["HOME=/x"][..], &["HOME=", "HOME=/y"]] {
            let mut p = with(env);
            assert!(!stand_in_home(&mut p), "{env:?}");
            assert_eq!(
                p.env().as_deref(),
                Some(&with(env).env().clone().unwrap()[..])
            );
        }
        let mut no_env = Process::default();
        no_env.set_env(None);
        assert!(lacks_home(&no_env));
    }

    #[test]
    fn look_path_searches_path() {
        assert_eq!(
            look_path("sh", "/nonexistent:/bin"),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            look_path("no-such-program", "/bin"),
            Err(LookError::NotFound)
        );
        assert_eq!(look_path("/no/such", "/bin"), Err(LookError::NotFound));
        assert_eq!(
            look_path("/bin", ""),
            Err(LookError::NotExecutable(PathBuf::from("/bin")))
        );
    }
}
