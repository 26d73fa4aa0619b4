//! The container's seccomp filter: berth loads it itself, for the container's init and for the
//! processes `exec` starts, through its executor, which libcontainer calls in the process just
//! before it lets it go on ([`FilterExecutor`]).
//!
//! - libcontainer 0.7 loads the filter libseccomp makes, without runc's `ENOSYS` stub for
//!   syscalls newer than the profile (see `filter`); and its tenant builder (its `exec`)
//!   rebuilds `linux` of the config it hands the new process, dropping `linux.seccomp`. So
//!   berth takes `linux.seccomp` out of the config it hands libcontainer (see `prepare`), keeps
//!   the profile beside it, makes the program in berth before libcontainer forks, and loads
//!   it in the process.
//! - init loads it in the executor's `validate`, the last step of libcontainer's init before it
//!   reports ready to `create` (where libcontainer loads a filter with no_new_privs too): the
//!   filter is there when `create` returns and the seccomp agent has its listener then, as
//!   runc does; the `startContainer` hooks then run under it (see `hooks`). An exec'd process
//!   loads it in `exec`, as close to `execve` as possible.
//! - with `noNewPrivileges: true`, libcontainer has set no_new_privs; loading the filter needs
//!   no privilege;
//! - without no_new_privs, the kernel wants `CAP_SYS_ADMIN` to load a filter, and libcontainer
//!   has dropped the capabilities by then. runc loads the filter before it drops them. berth
//!   lends the process `CAP_SYS_ADMIN` (effective and permitted only, not bounding,
//!   inheritable or ambient) in the process it hands libcontainer, loads the filter and then
//!   drops the lent capability, so the process execs with exactly the capabilities it asked
//!   for. As with runc's order, the filter then sees a few syscalls of the runtime's (`capget`,
//!   `capset`).
//!
//! With `SCMP_ACT_NOTIFY` rules the filter's listener goes to the seccomp agent
//! (`linux.seccomp.listenerPath`) as runc sends it: the process writes the listener's number to
//! berth ([`AgentRelay`]) and waits; berth takes the descriptor with `pidfd_getfd`, sends it
//! with the container's state to the agent, and answers. The process uses only `write`, `read`
//! and `close` for this, which a profile cannot make wait for the agent (`write` may not be a
//! notify rule).

mod filter;

use std::fs;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Barrier;

use anyhow::{anyhow, bail, Context as _, Result};
use libcontainer::oci_spec::runtime::{
    Capability, ContainerProcessStateBuilder, ContainerState, LinuxSeccomp, Process, Spec, State,
    SECCOMP_FD_NAME,
};
use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use nix::sys::socket::{
    self, recvmsg, setsockopt, sockopt, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixCredentials,
};

use crate::container::Container;
use crate::hooks::StartContainer;
use crate::workload::RuncExecutor;

pub use filter::{known_flags, supported_flags, Program};

/// The longest answer berth writes to the process (an error line).
const ANSWER_MAX: usize = 1024;

/// The exec'd process's filter and how it gets it; `None` when the container has no filter.
/// Lends `process` `CAP_SYS_ADMIN` where it needs it (see the module's documentation).
/// `next` runs the program once the filter is loaded.
pub fn plan(
    c: &Container,
    process: &mut Process,
    next: RuncExecutor,
) -> Result<Option<ExecFilter>> {
    let Some(seccomp) = container_filter(c)? else {
        return Ok(None);
    };
    let (load, relay) = Load::prepare(&seccomp, process, || running_state(c))?;
    Ok(Some(ExecFilter {
        executor: FilterExecutor {
            load: Some(load),
            in_validate: false,
            start_hooks: None,
            next,
        },
        relay,
    }))
}

/// The container's state as the seccomp agent gets it for an exec'd process.
fn running_state(c: &Container) -> Result<State> {
    crate::hooks::oci_state(
        &c.id,
        ContainerState::Running,
        Some(c.state.pid.unwrap_or(0)),
        &c.state.bundle,
        &c.state.annotations,
    )
    .context("cannot describe the container for the seccomp agent")
}

/// `create`: the config's filter and `startContainer` hooks, which init's executor loads and
/// runs (`spec`: the caller's config; `bundle`: the caller's bundle), then `next` runs the
/// program. Nothing when the config has neither: `next` runs it straight away.
pub fn plan_init(spec: &Spec, id: &str, bundle: &Path, next: RuncExecutor) -> Result<ExecFilter> {
    let start_hooks = StartContainer::new(spec, id, bundle)
        .context("cannot describe the container for its startContainer hooks")?;
    let (load, relay) = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(seccomp) => {
            // What `lend_for_init` lends the prepared config's process, a copy of this one.
            let mut process = spec.process().clone().unwrap_or_default();
            let state = || {
                crate::hooks::oci_state(
                    id,
                    ContainerState::Creating,
                    None,
                    bundle,
                    spec.annotations(),
                )
                .context("cannot describe the container for the seccomp agent")
            };
            let (load, relay) = Load::prepare(seccomp, &mut process, state)?;
            (Some(load), relay)
        }
        None => (None, None),
    };
    Ok(ExecFilter {
        executor: FilterExecutor {
            load,
            in_validate: true,
            start_hooks,
            next,
        },
        relay,
    })
}

/// Whether the process of `spec` gets `CAP_SYS_ADMIN` lent to load its filter: it has a filter
/// and no no_new_privs (see the module's documentation).
fn needs_lending(spec: &Spec) -> bool {
    let has_filter = spec.linux().as_ref().is_some_and(|l| l.seccomp().is_some());
    let nnp = spec.process().as_ref().and_then(|p| p.no_new_privileges()) == Some(true);
    has_filter && !nnp
}

/// Before `create`: a config whose filter notifies an agent names a socket that is there.
/// berth connects to the agent only once init has loaded the filter; runc's words say what is
/// wrong before anything is made.
pub fn check_agent(spec: &Spec) -> Result<()> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    if !libcontainer::seccomp::is_notify(seccomp) {
        return Ok(());
    }
    let path = seccomp
        .listener_path()
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| anyhow!("linux.seccomp: listenerPath is not set"))?;
    let unreachable = |cause: String| {
        anyhow!(
            "failed to connect with seccomp agent specified in the seccomp profile: {}: {cause}",
            path.display()
        )
    };
    let meta = fs::metadata(path).map_err(|e| unreachable(e.to_string()))?;
    if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
        return Err(unreachable("not a socket".into()));
    }
    Ok(())
}

/// The container's profile as runc reads it: the one `create` kept beside the prepared config
/// (see `prepare`); for a container made by an older berth, the prepared config's (with its
/// masked comparisons as that berth wrote them for libcontainer) or the bundle's own.
fn container_filter(c: &Container) -> Result<Option<LinuxSeccomp>> {
    let kept = crate::prepare::installed_seccomp(c);
    if kept.exists() {
        let text = fs::read(&kept).with_context(|| format!("cannot read {}", kept.display()))?;
        return serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| anyhow!("{} is not a valid seccomp profile: {e}", kept.display()));
    }
    let prepared = crate::prepare::installed_config(c);
    let (path, older_prepared) = if prepared.exists() {
        (prepared, true)
    } else {
        (c.state.bundle.join("config.json"), false)
    };
    let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec: Spec = serde_json::from_slice(&text)
        .map_err(|e| anyhow!("{} is not a valid OCI config: {e}", path.display()))?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    Ok(match seccomp {
        Some(s) if older_prepared => Some(crate::prepare::swap_masked_eq(s)),
        other => other,
    })
}

/// Which of the process's capability sets berth added `CAP_SYS_ADMIN` to.
#[derive(Debug, Clone, Copy, Default)]
struct Lent {
    effective: bool,
    permitted: bool,
}

/// Adds `CAP_SYS_ADMIN` to the effective and permitted sets the process asks for, where they
/// are given and lack it (a missing set is one libcontainer leaves as it is: root's, which has
/// it).
fn lend_sys_admin(process: &mut Process) -> Lent {
    let Some(mut caps) = process.capabilities().clone() else {
        return Lent::default();
    };
    let mut lent = Lent::default();
    if let Some(mut set) = caps.effective().clone() {
        lent.effective = set.insert(Capability::SysAdmin);
        caps.set_effective(Some(set));
    }
    if let Some(mut set) = caps.permitted().clone() {
        lent.permitted = set.insert(Capability::SysAdmin);
        caps.set_permitted(Some(set));
    }
    process.set_capabilities(Some(caps));
    lent
}

/// `create`'s prepared config: its process gets `CAP_SYS_ADMIN` lent where the filter needs it
/// (see the module's documentation).
pub fn lend_for_init(prepared: &mut Spec, spec: &Spec) {
    if !needs_lending(spec) {
        return;
    }
    if let Some(mut process) = prepared.process().clone() {
        lend_sys_admin(&mut process);
        prepared.set_process(Some(process));
    }
}

/// A process's filter and hooks: the executor to hand libcontainer, and berth's side of the
/// hand-over to the seccomp agent.
pub struct ExecFilter {
    executor: FilterExecutor,
    relay: Option<AgentRelay>,
}

impl ExecFilter {
    /// The executor for libcontainer's builder.
    pub fn executor(&self) -> FilterExecutor {
        self.executor.clone()
    }

    /// Runs `build` (libcontainer's build, which returns once the process has exec'd or is
    /// ready, or failed) while berth answers the process's hand-over, if any. A failure of the
    /// hand-over is the cause of the build's failure, and is returned in its place.
    pub fn around<T>(&self, build: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(relay) = &self.relay else {
            return build();
        };
        relay.around(build)
    }
}

/// What a process loads: the program, what was lent to load it, and the process's end of the
/// socket to berth, for the agent's descriptor.
#[derive(Clone)]
struct Load {
    program: Program,
    lent: Lent,
    relay: Option<RawFd>,
}

impl Load {
    /// The program of `seccomp`; `CAP_SYS_ADMIN` lent to `process` unless it has no_new_privs;
    /// and, when the profile notifies an agent, berth's side of the hand-over, which tells the
    /// agent `state`.
    fn prepare(
        seccomp: &LinuxSeccomp,
        process: &mut Process,
        state: impl FnOnce() -> Result<State>,
    ) -> Result<(Load, Option<AgentRelay>)> {
        let program = filter::compile(seccomp).context("invalid seccomp profile")?;
        let lent = if process.no_new_privileges() == Some(true) {
            Lent::default()
        } else {
            lend_sys_admin(process)
        };
        let relay = if program.notifies() {
            Some(AgentRelay::new(state()?, seccomp)?)
        } else {
            None
        };
        let load = Load {
            program,
            lent,
            relay: relay.as_ref().map(|r| r.theirs.as_raw_fd()),
        };
        Ok((load, relay))
    }
}

/// berth's executor for a container's process ([`RuncExecutor`]), with the container's filter
/// loaded first and, for init, the `startContainer` hooks run before the program.
#[derive(Clone)]
pub struct FilterExecutor {
    load: Option<Load>,
    /// Whether the filter is loaded in `validate` (init: before it reports ready) rather than in
    /// `exec` (an exec'd process).
    in_validate: bool,
    start_hooks: Option<StartContainer>,
    /// What runs the program.
    next: RuncExecutor,
}

impl FilterExecutor {
    /// In the process, after libcontainer has set the user, capabilities and no_new_privs:
    /// loads the filter, hands its listener over, gives back what was lent.
    fn load(&self) -> std::result::Result<(), String> {
        let Some(load) = &self.load else {
            return Ok(());
        };
        let listener = load
            .program
            .load()
            .map_err(|e| format!("error loading seccomp filter: {e}"))?;
        if let Some(listener) = listener {
            let handed = match load.relay {
                Some(relay) => hand_over(relay, listener.as_raw_fd()),
                None => Err("the seccomp agent's descriptor has nowhere to go".to_string()),
            };
            drop(listener);
            handed?;
        }
        // Effective first: it may never hold what permitted does not.
        let lent = [
            (load.lent.effective, caps::CapSet::Effective),
            (load.lent.permitted, caps::CapSet::Permitted),
        ];
        for (_, set) in lent.into_iter().filter(|(lent, _)| *lent) {
            caps::drop(None, set, caps::Capability::CAP_SYS_ADMIN)
                .map_err(|e| format!("cannot drop CAP_SYS_ADMIN after loading seccomp: {e}"))?;
        }
        Ok(())
    }
}

/// In the process: tells berth the listener's number and waits for its answer.
fn hand_over(relay: RawFd, listener: RawFd) -> std::result::Result<(), String> {
    // SAFETY: `relay` is the process's end of berth's socket pair, open in this process (a
    // copy of berth's descriptor table) until it execs; it is borrowed for these two calls.
    let relay = unsafe { std::os::fd::BorrowedFd::borrow_raw(relay) };
    let number = listener.to_ne_bytes();
    let sent = nix::unistd::write(relay, &number)
        .map_err(|e| format!("cannot hand the seccomp listener to berth: {e}"))?;
    if sent != number.len() {
        return Err("cannot hand the seccomp listener to berth: short write".into());
    }
    let mut answer = [0u8; ANSWER_MAX];
    let n = nix::unistd::read(relay.as_raw_fd(), &mut answer)
        .map_err(|e| format!("no answer from berth about the seccomp agent: {e}"))?;
    match &answer[..n] {
        [0] => Ok(()),
        [] => Err("no answer from berth about the seccomp agent".into()),
        text => Err(String::from_utf8_lossy(text).into_owned()),
    }
}

impl Executor for FilterExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        if !self.in_validate {
            self.load().map_err(ExecutorError::Other)?;
        }
        if let Some(hooks) = &self.start_hooks {
            hooks.run().map_err(ExecutorError::Other)?;
        }
        self.next.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        // The program is looked up first, as runc does, before the filter may refuse it.
        self.next.validate(spec)?;
        if self.in_validate {
            self.load()
                .map_err(ExecutorValidationError::ArgValidationError)?;
        }
        Ok(())
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> std::result::Result<(), ExecutorSetEnvsError> {
        self.next.setup_envs(envs)
    }
}

/// Shuts a socket down on drop: a thread reading it wakes up.
struct ShutDown<'a>(std::os::fd::BorrowedFd<'a>);

impl Drop for ShutDown<'_> {
    fn drop(&mut self) {
        let _ = socket::shutdown(self.0.as_raw_fd(), socket::Shutdown::Both);
    }
}

/// berth's side of the hand-over to the seccomp agent: a socket pair whose one end the process
/// inherits, and what the agent is told.
struct AgentRelay {
    ours: OwnedFd,
    theirs: OwnedFd,
    listener_path: String,
    metadata: String,
    /// The container's state; a container being created has no pid in it yet: the process's
    /// is its init's.
    state: State,
}

impl AgentRelay {
    fn new(state: State, seccomp: &LinuxSeccomp) -> Result<AgentRelay> {
        let (ours, theirs) = socket::socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("cannot make the seccomp agent's socket pair")?;
        // The kernel attaches the sender's pid (as berth's pid namespace sees it) to what the
        // process writes.
        setsockopt(&ours, sockopt::PassCred, &true).context("cannot set SO_PASSCRED")?;
        Ok(AgentRelay {
            ours,
            theirs,
            listener_path: seccomp
                .listener_path()
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            metadata: seccomp.listener_metadata().clone().unwrap_or_default(),
            state,
        })
    }

    fn around<T>(&self, build: impl FnOnce() -> Result<T>) -> Result<T> {
        let ready = Barrier::new(2);
        std::thread::scope(|s| {
            let answering = s.spawn(|| self.answer(&ready));
            // Whatever build does (a panic included), the answering thread ends with it.
            let _done = ShutDown(self.ours.as_fd());
            // libcontainer forks from this thread: the other one must be blocked in the kernel,
            // holding no lock a fork would copy held, before it does.
            ready.wait();
            let built = build();
            // The process has exec'd, is ready or is gone: nothing more comes.
            drop(_done);
            let handed = answering
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the seccomp agent relay panicked")));
            match (built, handed) {
                (_, Err(e)) => Err(e),
                (built, Ok(())) => built,
            }
        })
    }

    /// Waits for the process's listener, sends it to the agent and answers the process.
    fn answer(&self, ready: &Barrier) -> Result<()> {
        let mut number = [0u8; 4];
        let mut cmsg = nix::cmsg_space!(UnixCredentials);
        ready.wait();
        let (len, pid) = {
            let mut iov = [IoSliceMut::new(&mut number)];
            let msg = recvmsg::<()>(
                self.ours.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .context("cannot read the process's seccomp listener")?;
            let pid = msg
                .cmsgs()
                .ok()
                .into_iter()
                .flatten()
                .find_map(|m| match m {
                    ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid()),
                    _ => None,
                });
            (msg.bytes, pid)
        };
        if len == 0 {
            // The process never got so far (libcontainer reports why), or berth shut down.
            return Ok(());
        }
        let result = match pid {
            Some(pid) if len == number.len() => self.deliver(pid, i32::from_ne_bytes(number)),
            _ => Err(anyhow!(
                "the container's process sent a malformed seccomp hand-over"
            )),
        };
        let answer = match &result {
            Ok(()) => vec![0u8],
            Err(e) => {
                let mut line = crate::one_line(e).into_bytes();
                line.truncate(ANSWER_MAX);
                line
            }
        };
        let _ = nix::unistd::write(&self.ours, &answer);
        result
    }

    /// Takes the listener `fd` of process `pid` and sends it with the container's state to the
    /// agent, in runc's words when the agent cannot be reached.
    fn deliver(&self, pid: i32, fd: RawFd) -> Result<()> {
        if self.listener_path.is_empty() {
            bail!("listenerPath is not set");
        }
        let pidfd = rustix::process::Pid::from_raw(pid)
            .ok_or_else(|| anyhow!("the container's process has no pid"))
            .and_then(|p| {
                rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
                    .with_context(|| format!("cannot open process {pid}"))
            })?;
        let listener =
            rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
                .with_context(|| format!("cannot take the seccomp listener of process {pid}"))?;
        let agent = UnixStream::connect(Path::new(&self.listener_path)).with_context(|| {
            format!(
                "failed to connect with seccomp agent specified in the seccomp profile: {}",
                self.listener_path
            )
        })?;
        let mut state = self.state.clone();
        if state.pid().is_none() {
            state.set_pid(Some(pid));
        }
        let described = ContainerProcessStateBuilder::default()
            .version(libcontainer::oci_spec::runtime::VERSION)
            .fds(vec![SECCOMP_FD_NAME.to_string()])
            .pid(pid)
            .metadata(self.metadata.clone())
            .state(state)
            .build()
            .context("cannot describe the process for the seccomp agent")?;
        let text = serde_json::to_vec(&described)?;
        let fds = [listener.as_fd().as_raw_fd()];
        socket::sendmsg::<()>(
            agent.as_raw_fd(),
            &[std::io::IoSlice::new(&text)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .with_context(|| format!("cannot send seccomp fd to {}", self.listener_path))?;
        Ok(())
    }
}
