//! Device rules on cgroup v2: an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to
//! the container's cgroup.
//!
//! cgroup v2 has no devices controller; the kernel asks the device programs attached to a
//! cgroup (and to its ancestors, with `BPF_F_ALLOW_MULTI`) whether an access is allowed.
//! libcgroups builds such a program only with its `cgroupsv2_devices` feature, which first sets
//! `RLIMIT_MEMLOCK` (hard limit included) to 128 MiB and fails without `CAP_SYS_RESOURCE`; since
//! Linux 5.11 the memory of BPF programs is charged to the memory cgroup and the limit does not
//! apply. So berth is built without that feature and attaches the program itself.
//!
//! The rules are runc's: the config's `linux.resources.devices` in order, then runc's default
//! allow list (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`, `ptmx`, `/dev/pts/*`,
//! `net/tun`, and mknod of any device), less those whose path `linux.devices` names. They are
//! read as cgroup v1 reads them ([`Policy`]): a rule of type `a` resets everything to allow or
//! deny; other rules add exceptions to the default or take them away, so a later rule overrides
//! an earlier one. The program ([`program`]) returns the exceptions' verdict when the access
//! matches one of them (type, major and minor, wildcards included, and all of the access asked
//! for) and the default's otherwise.
//!
//! Loading and attaching take five `bpf(2)` commands ([`bpf`]); see the README for why they are
//! berth's own code rather than a crate's. Attaching follows runc: with exactly one device
//! program already on the cgroup, the new one replaces it atomically (`BPF_F_REPLACE`);
//! otherwise the new one is attached beside the others (`BPF_F_ALLOW_MULTI`) and the others are
//! detached.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use libcontainer::oci_spec::runtime::{LinuxDeviceType, Spec};

use crate::resources;
use crate::teardown::cgroup::{Cgroups, Version};

/// A device type as rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Char,
    Block,
}

/// Access bits, as the kernel passes them to the program (`BPF_DEVCG_ACC_*`).
const MKNOD: u8 = 1;
const READ: u8 = 2;
const WRITE: u8 = 4;
const RWM: u8 = MKNOD | READ | WRITE;

/// One rule of the list. `kind: None` is type `a` (every device); `None` major or minor is `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Option<Kind>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            None => "a",
            Some(Kind::Char) => "c",
            Some(Kind::Block) => "b",
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(
            f,
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            access_letters(self.access)
        )
    }
}

fn access_letters(access: u8) -> String {
    [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| access & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// A rule of runc's default allow list: kind, major, minor, the device's path, access.
type Defaulted = (Kind, Option<u32>, Option<u32>, Option<&'static str>, u8);

/// runc's default allow list.
const DEFAULT_ALLOWED: &[Defaulted] = &[
    (Kind::Char, None, None, None, MKNOD),
    (Kind::Block, None, None, None, MKNOD),
    (Kind::Char, Some(1), Some(3), Some("/dev/null"), RWM),
    (Kind::Char, Some(1), Some(8), Some("/dev/random"), RWM),
    (Kind::Char, Some(1), Some(7), Some("/dev/full"), RWM),
    (Kind::Char, Some(5), Some(0), Some("/dev/tty"), RWM),
    (Kind::Char, Some(1), Some(5), Some("/dev/zero"), RWM),
    (Kind::Char, Some(1), Some(9), Some("/dev/urandom"), RWM),
    (Kind::Char, Some(136), None, None, RWM),
    (Kind::Char, Some(5), Some(2), None, RWM),
    (Kind::Char, Some(10), Some(200), None, RWM),
];

/// The rules of `spec`, as runc lists them for the container's cgroup.
pub fn rules(spec: &Spec) -> Result<Vec<Rule>> {
    let linux = spec.linux().as_ref();
    let mut out = Vec::new();
    let given = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref());
    for (i, d) in given.into_iter().flatten().enumerate() {
        let kind = match d.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(Kind::Char),
            Some(LinuxDeviceType::B) => Some(Kind::Block),
            Some(LinuxDeviceType::P) => {
                bail!("linux.resources.devices[{i}]: type p is not a cgroup device type")
            }
        };
        let number = |n: Option<i64>, what: &str| -> Result<Option<u32>> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => u32::try_from(n)
                    .map(Some)
                    .with_context(|| format!("linux.resources.devices[{i}]: invalid {what} {n}")),
            }
        };
        let access = d.access().as_deref().unwrap_or("rwm");
        out.push(Rule {
            allow: d.allow(),
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            access: access.chars().fold(0, |acc, c| match c {
                'r' => acc | READ,
                'w' => acc | WRITE,
                'm' => acc | MKNOD,
                _ => acc,
            }),
        });
    }
    let named: Vec<&Path> = linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .map(|d| d.path().as_path())
        .collect();
    for &(kind, major, minor, path, access) in DEFAULT_ALLOWED {
        if path.is_some_and(|p| named.contains(&Path::new(p))) {
            continue;
        }
        out.push(Rule {
            allow: true,
            kind: Some(kind),
            major,
            minor,
            access,
        });
    }
    Ok(out)
}

/// What a device is, as an exception of a [`Policy`] names it (`None`: any number).
type Device = (Kind, Option<u32>, Option<u32>);

/// The rules as cgroup v1's devices controller reads them: a default verdict and the devices
/// that get the other one, with the accesses they get it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_allow: bool,
    pub exceptions: BTreeMap<Device, u8>,
}

impl Policy {
    /// Reads `rules` in order, starting from "deny everything".
    pub fn of(rules: &[Rule]) -> Result<Policy> {
        let mut p = Policy {
            default_allow: false,
            exceptions: BTreeMap::new(),
        };
        for rule in rules {
            p.apply(rule)?;
        }
        Ok(p)
    }

    fn apply(&mut self, rule: &Rule) -> Result<()> {
        let Some(kind) = rule.kind else {
            // Type `a`: everything allowed or denied, whatever else the rule says.
            self.default_allow = rule.allow;
            self.exceptions.clear();
            return Ok(());
        };
        let device = (kind, rule.major, rule.minor);
        if rule.allow != self.default_allow {
            // An exception to the default, or more access for one.
            *self.exceptions.entry(device).or_insert(0) |= rule.access;
            return Ok(());
        }
        // The default's own verdict: takes access away from an exception. cgroup v1 cannot
        // take part of a wildcard exception away, and neither can this.
        for wider in [
            (kind, None, rule.minor),
            (kind, rule.major, None),
            (kind, None, None),
        ] {
            if wider == device {
                continue;
            }
            let held = self.exceptions.get(&wider).copied().unwrap_or(0);
            if held & rule.access != 0 {
                bail!(
                    "device rule {rule} cannot take access away from the wider rule {}",
                    Rule {
                        allow: !rule.allow,
                        kind: Some(wider.0),
                        major: wider.1,
                        minor: wider.2,
                        access: held,
                    }
                );
            }
        }
        if let Some(held) = self.exceptions.get_mut(&device) {
            *held &= !rule.access;
            if *held == 0 {
                self.exceptions.remove(&device);
            }
        }
        Ok(())
    }

    /// Whether the policy allows `access` to a device (what the program computes).
    #[cfg(test)]
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let excepted = self.exceptions.iter().any(|(&(k, ma, mi), &held)| {
            k == kind
                && ma.is_none_or(|m| m == major)
                && mi.is_none_or(|m| m == minor)
                && access & held == access
        });
        excepted != self.default_allow
    }
}

/// One eBPF instruction: opcode, registers (destination in the low nibble), offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (linux/bpf_common.h, linux/bpf.h): class | operation | source.
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0x04 | 0xb0; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
const JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x05 | 0x50 | 0x08; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

// Registers: R1 points at struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
// (access_type: access << 16 | device type); R0 is the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The program for `policy`: loads the request into registers, then one block per exception
/// that returns the exception's verdict when the request matches it (each failed test jumps
/// to the next block), and last the default verdict.
pub fn program(policy: &Policy) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_MEM_W, TYPE, R1, 0, 0),
        insn(ALU32_AND_K, TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, ACCESS, R1, 0, 0),
        insn(ALU32_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, MINOR, R1, 8, 0),
    ];
    let verdict = |allow: bool| i32::from(allow);
    for (&(kind, major, minor), &access) in &policy.exceptions {
        // Tests, each "if the request differs, go to the next block" (offset filled in below).
        let mut tests = vec![insn(
            JNE_K,
            TYPE,
            0,
            0,
            match kind {
                Kind::Block => 1,
                Kind::Char => 2,
            },
        )];
        if access != RWM {
            // Every access asked for must be among the exception's: (asked & held) == asked.
            tests.push(insn(ALU32_MOV_X, R1, ACCESS, 0, 0));
            tests.push(insn(ALU32_AND_K, R1, 0, 0, i32::from(access)));
            tests.push(insn(JNE_X, R1, ACCESS, 0, 0));
        }
        if let Some(major) = major {
            tests.push(insn(JNE_K, MAJOR, 0, 0, major as i32));
        }
        if let Some(minor) = minor {
            tests.push(insn(JNE_K, MINOR, 0, 0, minor as i32));
        }
        tests.push(insn(ALU32_MOV_K, R0, 0, 0, verdict(!policy.default_allow)));
        tests.push(insn(EXIT, 0, 0, 0, 0));
        let len = tests.len();
        for (i, t) in tests.iter_mut().enumerate() {
            if t.code == JNE_K || t.code == JNE_X {
                // Relative to the next instruction: past the rest of this block.
                t.off = (len - i - 1) as i16;
            }
        }
        out.extend(tests);
    }
    out.push(insn(ALU32_MOV_K, R0, 0, 0, verdict(policy.default_allow)));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

/// At `create`, once libcontainer has made the container's cgroup and its init waits for
/// `start` (runc sets the device rules at the same point): on cgroup v2, attaches the program
/// for `spec`'s rules. On cgroup v1 libcgroups' devices controller has set them.
pub fn limit_create(cgroup_path: &Path, spec: &Spec) -> Result<()> {
    let started = std::time::Instant::now();
    let cgroups = Cgroups::locate(cgroup_path).context("cannot find the container's cgroups")?;
    tracing::debug!("device filter: cgroups located in {:?}", started.elapsed());
    limit(&cgroups, spec)
}

/// At `update`: the program attached anew, replacing the one there (runc rewrites all of a
/// container's cgroup settings, device rules included, on every update).
pub fn limit_update(c: &crate::container::Container) -> Result<()> {
    let cgroups = c.cgroups()?;
    if resources::layout(&cgroups) != Some(Version::V2) {
        return Ok(());
    }
    let prepared = crate::prepare::installed_config(c);
    let path = if prepared.exists() {
        prepared
    } else {
        c.state.bundle.join("config.json")
    };
    let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec: Spec = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a valid OCI config", path.display()))?;
    limit(&cgroups, &spec)
}

fn limit(cgroups: &Cgroups, spec: &Spec) -> Result<()> {
    if resources::layout(cgroups) != Some(Version::V2) {
        return Ok(());
    }
    let Some(dir) = resources::v2_dir(cgroups) else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    let rules = rules(spec)?;
    let policy = Policy::of(&rules)?;
    let insns = program(&policy);
    match attach(dir, &insns) {
        Ok(()) => {
            tracing::debug!(
                "device filter: {} rules, {} instructions, attached to {} in {:?}",
                rules.len(),
                insns.len(),
                dir.display(),
                started.elapsed()
            );
            Ok(())
        }
        Err(e) if may_go_without(&rules) => {
            tracing::warn!("device rules not enforced: {e:#}");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// runc's rule: without the privilege to load the program (in a user namespace, or
/// rootless), the rules may go unenforced; so may rules that allow everything anyway.
fn may_go_without(rules: &[Rule]) -> bool {
    let in_user_ns = fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false);
    in_user_ns
        || !nix::unistd::geteuid().is_root()
        || rules.iter().all(|r| r.allow && r.access == RWM)
}

/// Loads `insns` and attaches them to the cgroup `dir` as runc does (see the module's
/// documentation).
fn attach(dir: &Path, insns: &[Insn]) -> Result<()> {
    let cgroup = fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let prog = bpf::load_device_program(insns).context("cannot load the device filter")?;
    let old = bpf::attached(&cgroup).context("cannot list the cgroup's device filters")?;
    if let [only] = old.as_slice() {
        match bpf::attach(&cgroup, &prog, Some(only)) {
            Ok(()) => return Ok(()),
            // No BPF_F_REPLACE (before Linux 5.6): attach beside, then detach.
            Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(e).context("cannot attach the device filter"),
        }
    }
    bpf::attach(&cgroup, &prog, None).context("cannot attach the device filter")?;
    for p in &old {
        bpf::detach(&cgroup, p).context("cannot detach an old device filter")?;
    }
    Ok(())
}

/// The `bpf(2)` commands the device filter needs, with the parts of `union bpf_attr` they read
/// (linux/bpf.h; the kernel takes a shorter attribute and zero-fills the rest).
mod bpf {
    use super::*;
    use nix::errno::Errno;
    use std::os::fd::FromRawFd;

    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_PROG_DETACH: libc::c_long = 9;
    const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
    const BPF_PROG_QUERY: libc::c_long = 16;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
    const BPF_F_REPLACE: u32 = 1 << 2;
    /// The program's license (the kernel's MODULE_LICENSE strings; it calls no helper).
    const LICENSE: &[u8] = b"Apache\0";

    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Attach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Query {
        target_fd: u32,
        attach_type: u32,
        query_flags: u32,
        attach_flags: u32,
        prog_ids: u64,
        prog_cnt: u32,
        _pad: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct GetFdById {
        prog_id: u32,
        next_id: u32,
        open_flags: u32,
    }

    fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
        // SAFETY: `attr` is a live, initialized #[repr(C)] prefix of union bpf_attr for `cmd`,
        // and its size is passed with it; pointers inside it point at live buffers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>(),
            )
        };
        if r < 0 {
            Err(Errno::last())
        } else {
            Ok(r)
        }
    }

    fn owned(fd: libc::c_long) -> OwnedFd {
        // SAFETY: the kernel just returned this descriptor to this process; nothing else owns it.
        unsafe { OwnedFd::from_raw_fd(fd as i32) }
    }

    /// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program. Before Linux 5.11 its memory counts
    /// against `RLIMIT_MEMLOCK`: on `EPERM` the soft limit is raised to the hard one (nothing
    /// more: raising the hard limit takes `CAP_SYS_RESOURCE`) and the load tried once more.
    pub fn load_device_program(insns: &[Insn]) -> Result<OwnedFd> {
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: LICENSE.as_ptr() as u64,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        attr.prog_name[..7].copy_from_slice(b"berthdv");
        match bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => Ok(owned(fd)),
            Err(Errno::EPERM) if raise_memlock() => bpf(BPF_PROG_LOAD, &mut attr)
                .map(owned)
                .map_err(|e| anyhow::anyhow!("BPF_PROG_LOAD: {e}")),
            Err(e) => Err(anyhow::anyhow!("BPF_PROG_LOAD: {e}")),
        }
    }

    /// Raises the soft `RLIMIT_MEMLOCK` to the hard limit; whether it went up.
    fn raise_memlock() -> bool {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        match getrlimit(Resource::RLIMIT_MEMLOCK) {
            Ok((soft, hard)) if soft < hard => {
                setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard).is_ok()
            }
            _ => false,
        }
    }

    /// The device programs attached to `cgroup` itself (not its ancestors'), those berth may
    /// open: one that an LSM keeps from berth is left alone, as runc leaves it.
    pub fn attached(cgroup: &fs::File) -> Result<Vec<OwnedFd>, Errno> {
        let mut ids = vec![0u32; 64];
        loop {
            let mut attr = Query {
                target_fd: cgroup.as_raw_fd() as u32,
                attach_type: BPF_CGROUP_DEVICE,
                prog_ids: ids.as_mut_ptr() as u64,
                prog_cnt: ids.len() as u32,
                ..Default::default()
            };
            match bpf(BPF_PROG_QUERY, &mut attr) {
                Ok(_) => {
                    ids.truncate(attr.prog_cnt as usize);
                    break;
                }
                // More than room for: the count is in prog_cnt.
                Err(Errno::ENOSPC) if (attr.prog_cnt as usize) > ids.len() => {
                    ids = vec![0u32; attr.prog_cnt as usize];
                }
                Err(e) => return Err(e),
            }
        }
        let mut progs = Vec::with_capacity(ids.len());
        for id in ids {
            let mut attr = GetFdById {
                prog_id: id,
                ..Default::default()
            };
            match bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) {
                Ok(fd) => progs.push(owned(fd)),
                // Detached meanwhile, or not ours to touch.
                Err(Errno::ENOENT) | Err(Errno::EPERM) | Err(Errno::EACCES) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progs)
    }

    /// Attaches `prog` to `cgroup` with `BPF_F_ALLOW_MULTI`, in place of `replace` if given.
    pub fn attach(
        cgroup: &fs::File,
        prog: &OwnedFd,
        replace: Option<&OwnedFd>,
    ) -> Result<(), Errno> {
        let mut attr = Attach {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: BPF_F_ALLOW_MULTI,
            replace_bpf_fd: 0,
        };
        if let Some(old) = replace {
            attr.attach_flags |= BPF_F_REPLACE;
            attr.replace_bpf_fd = old.as_raw_fd() as u32;
        }
        bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
    }

    pub fn detach(cgroup: &fs::File, prog: &OwnedFd) -> Result<(), Errno> {
        let mut attr = Attach {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut attr).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        kind: Option<Kind>,
        major: Option<u32>,
        minor: Option<u32>,
        access: u8,
    ) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn deny_all_then_defaults() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
            }
        }))
        .unwrap();
        let p = Policy::of(&rules(&spec).unwrap()).unwrap();
        assert!(!p.default_allow);
        assert!(!p.allows(Kind::Char, 1, 11, READ));
        assert!(!p.allows(Kind::Char, 1, 11, WRITE));
        assert!(p.allows(Kind::Char, 1, 11, MKNOD));
        assert!(p.allows(Kind::Char, 1, 3, READ | WRITE));
        assert!(p.allows(Kind::Char, 136, 4, READ));
        assert!(p.allows(Kind::Block, 8, 0, MKNOD));
        assert!(!p.allows(Kind::Block, 8, 0, READ));
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let c = Some(Kind::Char);
        let p = Policy::of(&[
            rule(true, None, None, None, RWM),
            rule(false, c, Some(1), Some(3), RWM),
        ])
        .unwrap();
        assert!(p.default_allow);
        assert!(!p.allows(Kind::Char, 1, 3, READ));
        assert!(p.allows(Kind::Char, 1, 5, READ));
        let p = Policy::of(&[
            rule(false, c, Some(1), Some(3), RWM),
            rule(true, c, Some(1), Some(3), READ),
        ])
        .unwrap();
        assert!(p.allows(Kind::Char, 1, 3, READ));
        assert!(!p.allows(Kind::Char, 1, 3, WRITE));
        assert!(!p.allows(Kind::Char, 1, 3, READ | WRITE));
        // An `a` rule resets everything before it.
        let p = Policy::of(&[
            rule(true, c, Some(1), Some(3), RWM),
            rule(false, None, Some(1), Some(3), READ),
        ])
        .unwrap();
        assert!(!p.allows(Kind::Char, 1, 3, WRITE));
        assert!(p.exceptions.is_empty());
    }

    #[test]
    fn cannot_take_part_of_a_wildcard_away() {
        let c = Some(Kind::Char);
        let e = Policy::of(&[
            rule(true, c, None, None, RWM),
            rule(false, c, Some(1), Some(3), READ),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("c *:* rwm"), "{e}");
    }

    #[test]
    fn the_program_jumps_to_the_next_block() {
        let c = Some(Kind::Char);
        let p = Policy::of(&[rule(true, c, Some(1), None, READ)]).unwrap();
        let insns = program(&p);
        // 6 loads, one block (type, 3 access, major, mov, exit), default (mov, exit).
        assert_eq!(insns.len(), 6 + 7 + 2);
        let block = &insns[6..13];
        assert_eq!(block[0].code, JNE_K);
        assert_eq!(block[0].off, 6);
        assert_eq!(block[3].code, JNE_X);
        assert_eq!(block[3].off, 3);
        assert_eq!(block[4].imm, 1);
        assert_eq!(block[4].off, 2);
        assert_eq!(block[5].imm, 1, "the exception allows");
        assert_eq!(insns[13].imm, 0, "the default denies");
        // Registers: destination in the low nibble.
        assert_eq!(block[2].regs, R1);
        assert_eq!(block[3].regs, (ACCESS << 4) | R1);
    }
}
