//! A container's seccomp profile (`linux.seccomp`) made into the program berth loads, as runc
//! makes it.
//!
//! libseccomp builds the filter from the profile ([`compile`]), read as runc reads it (a
//! `SCMP_CMP_MASKED_EQ` argument's `value` is the mask, `valueTwo` the value compared with;
//! several conditions on one argument are separate rules). berth exports the program and, as
//! runc does, puts a stub in front of it: a syscall whose number is larger than any the profile
//! names for the calling architecture gets `ENOSYS` instead of the profile's default action. A
//! C library probes a syscall newer than the profile (`clone3`, `faccessat2`...) and falls back
//! to the older one when it gets `ENOSYS`; `EPERM` (a usual default) would be taken for a real
//! refusal. The stub only applies where the default action refuses: a profile that allows, logs
//! or traces by default reaches the kernel's own `ENOSYS` anyway.
//!
//! The program is loaded with `seccomp(2)` ([`Program::load`]), with the profile's flags
//! (`SECCOMP_FILTER_FLAG_LOG`, `_SPEC_ALLOW`, `_WAIT_KILLABLE_RECV`; `_TSYNC` means nothing for
//! a process of one thread, as runc reads it too) and `_NEW_LISTENER` when a rule notifies the
//! seccomp agent.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::{FromRawFd as _, OwnedFd};

use anyhow::{anyhow, bail, Context as _, Result};
use libcontainer::oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
    LinuxSyscall,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const FLAG_LOG: u32 = 1 << 1;
const FLAG_SPEC_ALLOW: u32 = 1 << 2;
const FLAG_NEW_LISTENER: u32 = 1 << 3;
const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// The profile flags berth knows, by the name a config gives them (`SECCOMP_FILTER_FLAG_TSYNC`
/// is known and ignored: the process has one thread when it loads the filter).
const KNOWN_FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 1 << 0),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// The profile flags berth knows (`features`' `knownFlags`).
pub fn known_flags() -> Vec<&'static str> {
    KNOWN_FLAGS.iter().map(|(name, _)| *name).collect()
}

/// The known flags this kernel takes (`features`' `supportedFlags`): asked as libseccomp asks,
/// loading no program with the flag, which a kernel that knows the flag refuses with `EFAULT`
/// and one that does not with `EINVAL`.
pub fn supported_flags() -> Vec<&'static str> {
    KNOWN_FLAGS
        .iter()
        .filter(|(_, flag)| {
            // SAFETY: a null program is never read: the kernel checks the flags first and
            // fails the copy of the program.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    probe(*flag),
                    std::ptr::null::<libc::c_void>(),
                )
            };
            r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
        })
        .map(|(name, _)| *name)
        .collect()
}

/// The flags to ask the kernel about `flag` with: it takes `WAIT_KILLABLE_RECV` only with a
/// listener.
fn probe(flag: u32) -> libc::c_ulong {
    let with = if flag == FLAG_WAIT_KILLABLE_RECV {
        FLAG_NEW_LISTENER
    } else {
        0
    };
    (flag | with) as libc::c_ulong
}

/// The seccomp return value that fails a syscall with `ENOSYS`.
const RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
/// The bit of an x32 syscall's number (x32 shares x86-64's audit architecture).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's longest filter.
const MAX_INSNS: usize = 4096;

/// A filter ready to load: the program and the flags to load it with.
#[derive(Clone)]
pub struct Program {
    insns: Vec<libc::sock_filter>,
    flags: u32,
}

impl Program {
    /// Whether loading gives a listener for the seccomp agent.
    pub fn notifies(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }

    /// Loads the filter into the calling thread (the process, which has one); the listener
    /// when the profile notifies an agent. Needs no_new_privs or `CAP_SYS_ADMIN`.
    pub fn load(&self) -> std::result::Result<Option<OwnedFd>, std::io::Error> {
        let prog = libc::sock_fprog {
            // `compile` keeps the program within the kernel's limit, far below u16::MAX.
            len: self.insns.len() as u16,
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.insns`, alive for the call; the kernel copies it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                libc::c_ulong::from(self.flags),
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if !self.notifies() {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER the kernel returns a new descriptor, owned from here on.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
    }
}

/// The profile as the program berth loads; an error names what in the profile is wrong.
pub fn compile(profile: &LinuxSeccomp) -> Result<Program> {
    check(profile)?;
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).context("cannot create the seccomp filter")?;
    for &arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(arch))
            .with_context(|| format!("cannot add architecture {arch:?} to the seccomp filter"))?;
    }
    // berth sets no_new_privs itself, as the config says.
    ctx.set_ctl_nnp(false)
        .context("cannot clear the seccomp filter's no_new_privs attribute")?;
    let syscalls = profile.syscalls().as_deref().unwrap_or_default();
    if syscalls.len() > 32 {
        // A binary tree instead of a list for long profiles, as runc asks (an older libseccomp
        // has none: the filter is only slower).
        let _ = ctx.set_ctl_optimize(2);
    }
    for rule in syscalls {
        add_rule(&mut ctx, rule, default)?;
    }
    let mut insns = stub(profile)?;
    insns.extend(export(&ctx)?);
    if insns.len() > MAX_INSNS {
        bail!(
            "the seccomp filter has {} instructions, more than the kernel's {MAX_INSNS}",
            insns.len()
        );
    }
    let mut flags = 0;
    for flag in profile.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
        };
    }
    if libcontainer::seccomp::is_notify(profile) {
        flags |= FLAG_NEW_LISTENER;
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        // runc's debug line, word for word (its tests read the number from it), without the
        // module name tracing's lines begin with.
        crate::log::write("debug", &format!("seccomp filter flags: {flags}"));
    }
    Ok(Program { insns, flags })
}

/// runc's refusals: the process could not hand its listener over if `write` waited for the
/// agent.
fn check(profile: &LinuxSeccomp) -> Result<()> {
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        bail!("SCMP_ACT_NOTIFY cannot be used as default action");
    }
    let notifies_write = profile.syscalls().iter().flatten().any(|s| {
        s.action() == LinuxSeccompAction::ScmpActNotify && s.names().iter().any(|n| n == "write")
    });
    if notifies_write {
        bail!("SCMP_ACT_NOTIFY cannot be used for the write syscall");
    }
    Ok(())
}

/// The profile's action; `ERRNO` and `TRACE` return `EPERM` unless the profile gives a number.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let code = || -> Result<i32> {
        let errno = errno.unwrap_or(libc::EPERM as u32);
        i32::try_from(errno).map_err(|_| anyhow!("errnoRet {errno} is out of range"))
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(code()?),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(code()?).map_err(|_| anyhow!("errnoRet {errno:?} is out of range"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

/// One entry of `syscalls`, for each of its names this libseccomp knows (others are syscalls of
/// a newer kernel: skipped, as runc skips them). A rule with the default action is left out
/// (libseccomp refuses it).
fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> Result<()> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        return Ok(());
    }
    let conditions: Vec<ScmpArgCompare> = rule
        .args()
        .iter()
        .flatten()
        .map(|arg| {
            let index = u32::try_from(arg.index())
                .map_err(|_| anyhow!("seccomp argument index {} is out of range", arg.index()))?;
            let (op, datum) = match arg.op() {
                LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
                LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
                LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
                LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
                LinuxSeccompOperator::ScmpCmpMaskedEq => (
                    ScmpCompareOp::MaskedEqual(arg.value()),
                    arg.value_two().unwrap_or(0),
                ),
            };
            Ok(ScmpArgCompare::new(index, op, datum))
        })
        .collect::<Result<_>>()?;
    // Two conditions on one argument cannot be one rule (libseccomp refuses it): each is a rule
    // of its own, which makes them alternatives, as runc reads them.
    let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
    indexes.sort_unstable();
    let separate = indexes.windows(2).any(|w| w[0] == w[1]);
    for name in rule.names() {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            tracing::debug!("unknown seccomp syscall {name:?} ignored");
            continue;
        };
        let added = if conditions.is_empty() {
            ctx.add_rule(act, syscall).map(|_| ())
        } else if separate {
            conditions.iter().try_for_each(|c| {
                ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                    .map(|_| ())
            })
        } else {
            ctx.add_rule_conditional(act, syscall, &conditions)
                .map(|_| ())
        };
        added.with_context(|| format!("cannot add the seccomp rule for syscall {name}"))?;
    }
    Ok(())
}

/// libseccomp's program, through a memory file (this libseccomp exports to a descriptor only).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .context("cannot make a memory file for the seccomp filter")?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .context("cannot export the seccomp filter")?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .context("cannot read the exported seccomp filter")?;
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % SIZE != 0 {
        bail!("the exported seccomp filter ends mid-instruction");
    }
    // The kernel reads the program in the host's byte order, as libseccomp writes it.
    Ok(bytes
        .chunks_exact(SIZE)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The kernel's `AUDIT_ARCH_*` value for a libseccomp architecture (what a filter reads at
/// offset 4 of `seccomp_data`); x32 is x86-64's, told apart by [`X32_SYSCALL_BIT`]. `None` for
/// an architecture the stub does not know.
fn audit_arch(arch: ScmpArch) -> Option<u32> {
    const BIT64: u32 = 0x8000_0000;
    const LE: u32 = 0x4000_0000;
    const MIPS64_N32: u32 = 0x2000_0000;
    Some(match arch {
        ScmpArch::X86 => 3 | LE,
        ScmpArch::X8664 | ScmpArch::X32 => 62 | BIT64 | LE,
        ScmpArch::Arm => 40 | LE,
        ScmpArch::Aarch64 => 183 | BIT64 | LE,
        ScmpArch::Mips => 8,
        ScmpArch::Mipsel => 8 | LE,
        ScmpArch::Mips64 => 8 | BIT64,
        ScmpArch::Mipsel64 => 8 | BIT64 | LE,
        ScmpArch::Mips64N32 => 8 | BIT64 | MIPS64_N32,
        ScmpArch::Mipsel64N32 => 8 | BIT64 | LE | MIPS64_N32,
        ScmpArch::Ppc => 20,
        ScmpArch::Ppc64 => 21 | BIT64,
        ScmpArch::Ppc64Le => 21 | BIT64 | LE,
        ScmpArch::S390 => 22,
        ScmpArch::S390X => 22 | BIT64,
        ScmpArch::Riscv64 => 243 | BIT64 | LE,
        ScmpArch::Loongarch64 => 258 | BIT64 | LE,
        _ => return None,
    })
}

/// The highest syscall numbers the profile names, per audit architecture: for x86-64's, the
/// x86-64 and the x32 numbers apart (an x32 number has [`X32_SYSCALL_BIT`] set).
#[derive(Debug, Default, PartialEq, Eq)]
struct Highest {
    plain: Option<u32>,
    x32: Option<u32>,
}

/// The architectures of the filter (the profile's and the native one, which libseccomp always
/// adds) and the highest syscall number the profile names for each.
fn highest_syscalls(profile: &LinuxSeccomp) -> BTreeMap<u32, Highest> {
    let mut arches: Vec<ScmpArch> = profile
        .architectures()
        .iter()
        .flatten()
        .map(|&a| scmp_arch(a))
        .filter(|&a| a != ScmpArch::Native)
        .collect();
    arches.push(ScmpArch::native());
    let names: Vec<&String> = profile
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names())
        .collect();
    let mut highest: BTreeMap<u32, Highest> = BTreeMap::new();
    for arch in arches {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        // Pseudo-syscalls (libseccomp's negative numbers) and names unknown there count for
        // nothing.
        let top = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .filter_map(|s| u32::try_from(i32::from(s)).ok())
            .max();
        let Some(top) = top else { continue };
        let entry = highest.entry(audit).or_default();
        let slot = if arch == ScmpArch::X32 {
            &mut entry.x32
        } else {
            &mut entry.plain
        };
        *slot = Some(top);
    }
    highest.retain(|_, h| h.plain.is_some() || h.x32.is_some());
    highest
}

/// Whether the profile's default action refuses (the stub's `ENOSYS` then replaces it for
/// syscalls newer than the profile). A default that allows, logs or hands the syscall to a
/// tracer (which handles new syscalls itself) needs none; nor does one that already returns
/// `ENOSYS`.
fn wants_stub(profile: &LinuxSeccomp) -> bool {
    match profile.default_action() {
        LinuxSeccompAction::ScmpActAllow
        | LinuxSeccompAction::ScmpActLog
        | LinuxSeccompAction::ScmpActTrace => false,
        LinuxSeccompAction::ScmpActErrno => {
            profile.default_errno_ret() != Some(libc::ENOSYS as u32)
        }
        _ => true,
    }
}

/// The instructions put before libseccomp's program (none when the profile needs no stub).
fn stub(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>> {
    if !wants_stub(profile) {
        return Ok(Vec::new());
    }
    let highest = highest_syscalls(profile);
    if highest.is_empty() {
        return Ok(Vec::new());
    }
    assemble(&stub_code(&highest))
}

/// A jump target of the stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// The next instruction.
    Next,
    /// libseccomp's program, right after the stub.
    Filter,
    /// A place in the stub ([`Op::Here`]).
    At(usize),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A = the 32-bit word at this offset of `seccomp_data`.
    Load(u32),
    /// Jump to the first label if A == k, else to the second.
    JumpEq(u32, Label, Label),
    /// Jump to the first label if A > k, else to the second.
    JumpGt(u32, Label, Label),
    /// Jump to the first label if A & k != 0, else to the second.
    JumpSet(u32, Label, Label),
    /// Jump always.
    Jump(Label),
    /// Return this seccomp action.
    Return(u32),
    /// Marks the place of a label (no instruction).
    Here(usize),
}

/// The stub, in labels: the architecture picks a section; a section compares the syscall
/// number with the highest the profile names and returns `ENOSYS` above it; everything else
/// goes on to libseccomp's program (which handles unknown architectures itself). Conditional
/// jumps stay within a few instructions (they reach 255 at most); far places are reached by
/// unconditional jumps.
fn stub_code(highest: &BTreeMap<u32, Highest>) -> Vec<Op> {
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let mut label = 0;
    let mut fresh = || {
        label += 1;
        label
    };
    let mut code = vec![Op::Load(ARCH)];
    let mut sections = Vec::new();
    for (&audit, high) in highest {
        let (start, other, enosys, filter) = (fresh(), fresh(), fresh(), fresh());
        code.extend([
            Op::JumpEq(audit, Label::Next, Label::At(other)),
            Op::Jump(Label::At(start)),
            Op::Here(other),
        ]);
        let mut section = vec![Op::Here(start), Op::Load(NR)];
        if audit == AUDIT_S390 || audit == AUDIT_S390X {
            // s390's multiplexer: a syscall number the kernel does not know arrives as 0.
            section.push(Op::JumpEq(0, Label::At(enosys), Label::Next));
        }
        let (enosys_l, filter_l) = (Label::At(enosys), Label::At(filter));
        match (high.plain, high.x32) {
            (Some(plain), Some(x32)) => {
                let x32_check = fresh();
                section.extend([
                    Op::JumpSet(X32_SYSCALL_BIT, Label::At(x32_check), Label::Next),
                    Op::JumpGt(plain, enosys_l, filter_l),
                    Op::Here(x32_check),
                    Op::JumpGt(x32, enosys_l, filter_l),
                ]);
            }
            // x86-64 without x32 in the profile: an x32 syscall goes on to the filter.
            (Some(plain), None) if audit == AUDIT_X86_64 => section.extend([
                Op::JumpSet(X32_SYSCALL_BIT, filter_l, Label::Next),
                Op::JumpGt(plain, enosys_l, filter_l),
            ]),
            (None, Some(x32)) => section.extend([
                Op::JumpSet(X32_SYSCALL_BIT, Label::Next, filter_l),
                Op::JumpGt(x32, enosys_l, filter_l),
            ]),
            (Some(plain), None) => section.push(Op::JumpGt(plain, enosys_l, filter_l)),
            (None, None) => continue,
        }
        section.extend([
            Op::Here(enosys),
            Op::Return(RET_ENOSYS),
            Op::Here(filter),
            Op::Jump(Label::Filter),
        ]);
        sections.extend(section);
    }
    code.push(Op::Jump(Label::Filter));
    code.extend(sections);
    code
}

const AUDIT_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_S390: u32 = 22;
const AUDIT_S390X: u32 = 22 | 0x8000_0000;

/// The stub's instructions, its labels resolved.
fn assemble(code: &[Op]) -> Result<Vec<libc::sock_filter>> {
    const LD_W_ABS: u16 = 0x20;
    const JA: u16 = 0x05;
    const JEQ_K: u16 = 0x15;
    const JGT_K: u16 = 0x25;
    const JSET_K: u16 = 0x45;
    const RET_K: u16 = 0x06;
    let mut insns: Vec<(u16, Label, Label, u32)> = Vec::new();
    let mut places = BTreeMap::new();
    for op in code {
        let insn = match *op {
            Op::Load(off) => (LD_W_ABS, Label::Next, Label::Next, off),
            Op::JumpEq(k, t, f) => (JEQ_K, t, f, k),
            Op::JumpGt(k, t, f) => (JGT_K, t, f, k),
            Op::JumpSet(k, t, f) => (JSET_K, t, f, k),
            // The target goes in `k`; jt and jf are unused.
            Op::Jump(l) => (JA, l, Label::Next, 0),
            Op::Return(k) => (RET_K, Label::Next, Label::Next, k),
            Op::Here(id) => {
                places.insert(id, insns.len());
                continue;
            }
        };
        insns.push(insn);
    }
    let end = insns.len();
    let offset = |l: Label, pc: usize| -> Result<usize> {
        let target = match l {
            Label::Next => pc + 1,
            Label::Filter => end,
            Label::At(id) => *places
                .get(&id)
                .ok_or_else(|| anyhow!("seccomp stub: label {id} has no place"))?,
        };
        target
            .checked_sub(pc + 1)
            .ok_or_else(|| anyhow!("seccomp stub: a jump backwards"))
    };
    insns
        .iter()
        .enumerate()
        .map(|(pc, &(code, t, f, k))| {
            if code == JA {
                let k = u32::try_from(offset(t, pc)?)?;
                return Ok(libc::sock_filter {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                });
            }
            let short = |l| {
                u8::try_from(offset(l, pc)?)
                    .map_err(|_| anyhow!("seccomp stub: a conditional jump is too long"))
            };
            Ok(libc::sock_filter {
                code,
                jt: short(t)?,
                jf: short(f)?,
                k,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the stub on a syscall: `Some(action)` when it returns, `None` when it goes on to
    /// libseccomp's program (the instruction after the stub).
    fn run(stub: &[libc::sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            if pc == stub.len() {
                return None;
            }
            let i = stub[pc];
            pc += 1;
            match i.code {
                0x20 => a = if i.k == 0 { nr } else { arch },
                0x05 => pc += i.k as usize,
                0x06 => return Some(i.k),
                op => {
                    let taken = match op {
                        0x15 => a == i.k,
                        0x25 => a > i.k,
                        0x45 => a & i.k != 0,
                        _ => panic!("unexpected opcode {op:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
            assert!(pc <= stub.len(), "a jump past the stub");
        }
    }

    fn highest(entries: &[(u32, Option<u32>, Option<u32>)]) -> BTreeMap<u32, Highest> {
        entries
            .iter()
            .map(|&(audit, plain, x32)| (audit, Highest { plain, x32 }))
            .collect()
    }

    const I386: u32 = 3 | 0x4000_0000;

    #[test]
    fn enosys_above_the_highest_syscall_of_each_architecture() {
        let h = highest(&[
            (AUDIT_X86_64, Some(300), Some(X32_SYSCALL_BIT | 200)),
            (I386, Some(400), None),
        ]);
        let stub = assemble(&stub_code(&h)).unwrap();
        let x32 = |nr| X32_SYSCALL_BIT | nr;
        for (arch, nr, expected) in [
            (AUDIT_X86_64, 300, None),
            (AUDIT_X86_64, 301, Some(RET_ENOSYS)),
            (AUDIT_X86_64, 0, None),
            (AUDIT_X86_64, x32(200), None),
            (AUDIT_X86_64, x32(201), Some(RET_ENOSYS)),
            (I386, 400, None),
            (I386, 401, Some(RET_ENOSYS)),
            // An architecture the filter does not have: libseccomp's program decides.
            (40 | 0x4000_0000, 100_000, None),
        ] {
            assert_eq!(run(&stub, arch, nr), expected, "arch {arch:#x} nr {nr:#x}");
        }
    }

    #[test]
    fn x86_64_without_x32_leaves_x32_syscalls_to_the_filter() {
        let stub = assemble(&stub_code(&highest(&[(AUDIT_X86_64, Some(300), None)]))).unwrap();
        assert_eq!(run(&stub, AUDIT_X86_64, 301), Some(RET_ENOSYS));
        assert_eq!(run(&stub, AUDIT_X86_64, X32_SYSCALL_BIT | 1000), None);
        let stub = assemble(&stub_code(&highest(&[(
            AUDIT_X86_64,
            None,
            Some(X32_SYSCALL_BIT | 10),
        )])))
        .unwrap();
        assert_eq!(run(&stub, AUDIT_X86_64, 1000), None);
        assert_eq!(
            run(&stub, AUDIT_X86_64, X32_SYSCALL_BIT | 11),
            Some(RET_ENOSYS)
        );
    }

    #[test]
    fn s390_multiplexer_gets_enosys() {
        let stub = assemble(&stub_code(&highest(&[(AUDIT_S390X, Some(400), None)]))).unwrap();
        assert_eq!(run(&stub, AUDIT_S390X, 0), Some(RET_ENOSYS));
        assert_eq!(run(&stub, AUDIT_S390X, 1), None);
        assert_eq!(run(&stub, AUDIT_S390X, 401), Some(RET_ENOSYS));
    }

    fn profile(value: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_stub_only_where_the_default_refuses() {
        let with = |default: &str, errno: Option<u32>| {
            let mut p = serde_json::json!({
                "defaultAction": default,
                "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL"}]
            });
            if let Some(e) = errno {
                p["defaultErrnoRet"] = e.into();
            }
            wants_stub(&profile(p))
        };
        assert!(with("SCMP_ACT_ERRNO", None));
        assert!(with("SCMP_ACT_ERRNO", Some(1)));
        assert!(!with("SCMP_ACT_ERRNO", Some(libc::ENOSYS as u32)));
        assert!(with("SCMP_ACT_KILL", None));
        assert!(with("SCMP_ACT_TRAP", None));
        assert!(!with("SCMP_ACT_ALLOW", None));
        assert!(!with("SCMP_ACT_LOG", None));
        assert!(!with("SCMP_ACT_TRACE", None));
    }

    #[test]
    fn compiles_with_flags_and_refuses_what_runc_refuses() {
        let p = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [
                {"names": ["getpid", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
            ]
        })))
        .unwrap();
        assert_eq!(p.flags, FLAG_LOG | FLAG_NEW_LISTENER);
        assert!(p.notifies());
        // The stub first: it loads the architecture.
        assert_eq!((p.insns[0].code, p.insns[0].k), (0x20, 4));
        let err = |v| compile(&profile(v)).err().map(|e| e.to_string());
        assert_eq!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"})).as_deref(),
            Some("SCMP_ACT_NOTIFY cannot be used as default action")
        );
        assert_eq!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}))
            .as_deref(),
            Some("SCMP_ACT_NOTIFY cannot be used for the write syscall")
        );
    }
}
