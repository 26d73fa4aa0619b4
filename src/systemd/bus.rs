//! systemd's D-Bus API (org.freedesktop.systemd1.Manager on the system bus), the few calls a
//! teardown and `create` need.
//!
//! Stopping waits for systemd's own word: the stop job's `JobRemoved` signal, then the unit's
//! `ActiveState` (a unit that failed is reset so that it does not linger). Every wait has a
//! deadline.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use nix::sys::signal::{SigSet, SigmaskHow};
use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type as MessageType;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::MatchRule;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// A connection to systemd: the system instance, or for a user (rootless) the user's own
/// instance (`user@UID.service`) on the session bus.
pub struct Systemd {
    conn: Connection,
    // Declared last: dropped after the connection.
    _signals: SignalsBlocked,
}

impl Systemd {
    /// Connects to the system bus (as root; as a user, to the user's instance on the session
    /// bus, as libcgroups' driver does); every call then fails after `timeout` without an answer.
    pub fn connect(timeout: Duration) -> Result<Systemd> {
        let signals = SignalsBlocked::new()?;
        let user = !crate::rootless::true_root();
        let builder = if user {
            // Inside a user namespace (rootless podman's) the bus sees the outer uid.
            zbus::blocking::connection::Builder::session()
                .map(|b| b.user_id(crate::rootless::outer_uid()))
        } else {
            zbus::blocking::connection::Builder::system()
        };
        let conn = builder
            .and_then(|b| b.method_timeout(timeout).build())
            .with_context(|| match user {
                true => "cannot connect to the user's systemd over D-Bus (its session bus)",
                false => "cannot connect to systemd over D-Bus",
            })?;
        Ok(Systemd {
            conn,
            _signals: signals,
        })
    }

    fn call<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::message::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
    }

    /// The manager's own cgroup (`ControlGroup`): `/` for the system instance,
    /// `/user.slice/user-UID.slice/user@UID.service` for a user's. Its units' cgroups are below.
    pub fn control_group(&self) -> Result<PathBuf> {
        let reply = self
            .conn
            .call_method(
                Some(DEST),
                PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(MANAGER, "ControlGroup"),
            )
            .context("cannot ask systemd for its cgroup")?;
        let value: OwnedValue = reply
            .body()
            .deserialize()
            .context("cannot read systemd's cgroup")?;
        let text: String = value
            .try_into()
            .map_err(|e| anyhow!("cannot read systemd's cgroup: {e}"))?;
        Ok(PathBuf::from(if text.is_empty() { "/" } else { &text }))
    }

    /// Sets the unit's `Description` (libcontainer calls every unit a "youki container").
    pub fn set_description(&self, unit: &str, text: &str) -> Result<()> {
        let props = vec![("Description", Value::from(text))];
        self.call("SetUnitProperties", &(unit, true, props))
            .with_context(|| format!("cannot set the description of systemd unit {unit}"))?;
        Ok(())
    }

    /// The unit's `ActiveState`, or `None` when systemd no longer has the unit loaded.
    pub fn active_state(&self, unit: &str) -> Result<Option<String>> {
        let path: OwnedObjectPath = match self.call("GetUnit", &(unit,)) {
            Ok(reply) => reply.body().deserialize()?,
            Err(e) if is_no_such_unit(&e) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot look up systemd unit {unit}")),
        };
        let reply = self
            .conn
            .call_method(
                Some(DEST),
                &path,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.systemd1.Unit", "ActiveState"),
            )
            .with_context(|| format!("cannot read the state of systemd unit {unit}"))?;
        let value: OwnedValue = reply.body().deserialize()?;
        let state = String::try_from(value).map_err(|e| anyhow!("ActiveState of {unit}: {e}"))?;
        Ok(Some(state))
    }

    /// Stops `unit` and returns once systemd has finished with it: the stop job is done and the
    /// unit is neither active nor deactivating (a failed unit is reset, so that it is gone).
    /// A unit systemd does not know is already stopped.
    pub fn stop(&self, unit: &str, deadline: Instant) -> Result<()> {
        let jobs = self.watch_jobs()?;
        match self.call("StopUnit", &(unit, "replace")) {
            Ok(reply) => {
                let job: OwnedObjectPath = reply.body().deserialize()?;
                wait_job(&jobs, &job, deadline)
                    .with_context(|| format!("systemd did not stop unit {unit}"))?;
            }
            Err(e) if is_no_such_unit(&e) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot stop systemd unit {unit}")),
        }
        let mut pause = Duration::from_millis(1);
        loop {
            match self.active_state(unit)?.as_deref() {
                None | Some("inactive") => return Ok(()),
                Some("failed") => {
                    match self.call("ResetFailedUnit", &(unit,)) {
                        Err(e) if !is_no_such_unit(&e) => {
                            return Err(e).with_context(|| {
                                format!("cannot reset failed systemd unit {unit}")
                            })
                        }
                        _ => {}
                    }
                    continue;
                }
                Some(state) if Instant::now() >= deadline => {
                    bail!("systemd unit {unit} is still {state} at the deadline")
                }
                // A start job queued behind ours (a racing `systemctl start`): look again.
                Some(_) => thread::sleep(pause),
            }
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Subscribes to the manager's `JobRemoved` signals (systemd sends them only once a client
    /// has called `Subscribe`); they arrive as (job, result) on the receiver.
    fn watch_jobs(&self) -> Result<Receiver<(OwnedObjectPath, String)>> {
        let rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(DEST)?
            .path(PATH)?
            .interface(MANAGER)?
            .member("JobRemoved")?
            .build();
        let messages = MessageIterator::for_match_rule(rule, &self.conn, Some(64))
            .context("cannot watch systemd's jobs")?;
        self.call("Subscribe", &())
            .context("cannot subscribe to systemd's signals")?;
        let (tx, rx) = mpsc::channel();
        // The iterator blocks; a thread feeds the channel so that the wait can have a deadline.
        // It ends with the process (berth exits right after a teardown).
        thread::spawn(move || {
            for msg in messages.flatten() {
                let Ok((_id, job, _unit, result)) =
                    msg.body()
                        .deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if tx.send((job, result)).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

/// Waits for `job`'s `JobRemoved`; a job that did not finish as `done` (`canceled`, `failed`,
/// `timeout`...) is an error.
fn wait_job(
    jobs: &Receiver<(OwnedObjectPath, String)>,
    job: &OwnedObjectPath,
    deadline: Instant,
) -> Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match jobs.recv_timeout(left) {
            Ok((path, result)) if &path == job => {
                return match result.as_str() {
                    "done" => Ok(()),
                    other => Err(anyhow!("its stop job ended as {other:?}")),
                }
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                bail!("its stop job is still running at the deadline")
            }
            Err(RecvTimeoutError::Disconnected) => bail!("the D-Bus connection closed"),
        }
    }
}

/// zbus runs its connection on threads of its own that live as long as the process. A signal
/// sent to berth goes to any thread that does not block it, so a thread that does not would
/// swallow the signals a foreground `run` forwards to the container (the handler records them,
/// but the forwarding loop waits on a signalfd of the main thread). Every thread zbus starts is
/// started while this blocks all signals in the calling thread, and inherits that mask; what
/// arrives meanwhile stays pending until the mask is restored.
struct SignalsBlocked {
    old: SigSet,
}

impl SignalsBlocked {
    fn new() -> Result<SignalsBlocked> {
        let old = SigSet::all()
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .context("cannot block signals")?;
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = self.old.thread_set_mask();
    }
}

fn is_no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if name.as_str() == NO_SUCH_UNIT)
}
