//! File descriptor hygiene: what berth's caller left open must not reach a container.
//!
//! libcontainer forks a container's processes from berth with clone3 (no `CLONE_FILES`: each
//! gets a copy of berth's descriptor table) and marks everything above `2 + preserve_fds`
//! close-on-exec only at the very end of its init, just before it waits for `start`. Until that
//! `execve`, a created container's init holds every descriptor berth had at the fork: the
//! caller's (CVE-2024-21626 was a leaked directory descriptor of this kind) and berth's own. So
//! berth closes the caller's extra descriptors first thing, keeps its lock in a descriptor
//! table of its own (`container::Root::lock`), and opens its log file only to write a line.

use std::fs;

/// Closes every descriptor from `3 + keep` up. Called before berth opens anything; `keep` is
/// what the caller asked to pass on (`--preserve-fds N`, plus systemd's `LISTEN_FDS`).
pub fn close_inherited(keep: u32) {
    let first = 3 + keep;
    // SAFETY: close_range(2) takes plain integers. Nothing in this process owns a descriptor
    // from `first` up yet: this runs before berth opens any.
    let done = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) } == 0;
    if done {
        return;
    }
    // Kernels before 5.9: close them one by one (read the list first: closing changes it).
    let open: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in open.into_iter().filter(|fd| *fd >= first as i32) {
        // SAFETY: as above; the read_dir's own descriptor is already closed and EBADF is fine.
        unsafe { libc::close(fd) };
    }
}

/// How many descriptors from 3 up systemd's socket activation hands over (`LISTEN_FDS`):
/// libcontainer passes them to the container's process after the `--preserve-fds` ones, as
/// runc does.
pub fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::close_inherited;

    #[test]
    fn closes_from_the_first_not_kept() {
        // Runs in a forked child: the test harness's own descriptors must survive.
        // SAFETY: the child makes only raw system calls before _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::dup2(1, 10);
                libc::dup2(1, 11);
                libc::dup2(1, 40);
            }
            close_inherited(8); // keeps 3..=10
            let open = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
            let ok = open(10) && !open(11) && !open(40) && open(2);
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
