//! systemd's manager over D-Bus: start a transient scope with the
//! container's PID, stop it, change its properties, and wait for the jobs
//! these start. Root talks to PID 1 on its private socket (what systemctl
//! does: no bus daemon in between, no Hello, every signal delivered), or
//! the system bus when that socket is not reachable; a user talks to their
//! own systemd the same way ($XDG_RUNTIME_DIR/systemd/private, else the
//! session bus).

use super::ScopePath;
use crate::{Error, Result};
use cella_dbus::{connection::Peer, Connection, Message, Value};
use std::time::Duration;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long systemd gets to finish a job (runc waits as long).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// Which systemd: the machine's (PID 1) or the calling user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    System,
    User,
}

pub struct Manager {
    conn: Connection,
    which: Which,
}

fn dbus_err(op: &str, unit: &str) -> impl FnOnce(cella_dbus::Error) -> Error {
    let (op, unit) = (op.to_string(), unit.to_string());
    move |err| Error::Systemd { op, unit, err }
}

fn is_error(e: &cella_dbus::Error, name: &str) -> bool {
    matches!(e, cella_dbus::Error::Remote { name: n, .. } if n == name)
}

impl Manager {
    pub fn connect(which: Which) -> Result<Manager> {
        let private = match which {
            Which::System => Some("/run/systemd/private".to_string()),
            Which::User => std::env::var("XDG_RUNTIME_DIR")
                .ok()
                .map(|d| format!("{d}/systemd/private")),
        };
        // The private socket is mode 0600 for its manager's user; anyone
        // else falls through to the bus.
        if let Some(p) = private.filter(|p| std::path::Path::new(p).exists()) {
            if let Ok(conn) = Connection::open(&format!("unix:path={p}"), Peer::Direct) {
                return Ok(Manager { conn, which });
            }
        }
        let bus = match which {
            Which::System => Connection::system_bus(),
            Which::User => Connection::session_bus(),
        };
        let mut conn = bus.map_err(|err| Error::SystemdUnreachable {
            which: match which {
                Which::System => "the system's systemd (PID 1)",
                Which::User => "this user's systemd instance",
            },
            err,
        })?;
        // On a bus, systemd sends job signals only to subscribers.
        conn.add_match(&format!(
            "type='signal',sender='{SYSTEMD}',path='{PATH}',interface='{MANAGER}',member='JobRemoved'"
        ))
        .map_err(dbus_err("subscribe to", "JobRemoved"))?;
        conn.call(
            Message::call(Some(SYSTEMD), PATH, MANAGER, "Subscribe", &[]),
            CALL_TIMEOUT,
        )
        .map_err(dbus_err("subscribe to", "the manager"))?;
        Ok(Manager { conn, which })
    }

    pub fn which(&self) -> Which {
        self.which
    }

    fn call(&mut self, member: &str, args: &[Value]) -> std::result::Result<Message, cella_dbus::Error> {
        self.conn
            .call(Message::call(Some(SYSTEMD), PATH, MANAGER, member, args), CALL_TIMEOUT)
    }

    /// Waits for the end of the job a call returned; its result must be "done".
    fn wait_job(&mut self, reply: &Message, unit: &str, op: &str) -> Result<()> {
        let job = match reply.values().map_err(dbus_err(op, unit))?.into_iter().next() {
            Some(Value::ObjectPath(p)) => p,
            other => {
                return Err(dbus_err(op, unit)(cella_dbus::Error::Protocol(format!(
                    "expected a job path, got {other:?}"
                ))))
            }
        };
        let sig = self
            .conn
            .wait_signal(
                |m| {
                    m.member.as_deref() == Some("JobRemoved")
                        && matches!(m.values().as_deref(), Ok([_, Value::ObjectPath(p), ..]) if *p == job)
                },
                JOB_TIMEOUT,
            )
            .map_err(dbus_err(op, unit))?;
        match sig.values().map_err(dbus_err(op, unit))?.get(3) {
            Some(Value::Str(r)) if r == "done" => Ok(()),
            Some(Value::Str(r)) => Err(Error::SystemdJob {
                op: op.to_string(),
                unit: unit.to_string(),
                result: r.clone(),
            }),
            _ => Err(dbus_err(op, unit)(cella_dbus::Error::Protocol(
                "JobRemoved without a result".into(),
            ))),
        }
    }

    /// Starts `scope` holding `pid`, in its slice, delegated, with `props`.
    /// A leftover unit of the same name that has failed is reset first.
    /// When systemd rejects a property it does not know (an older
    /// systemd), the scope is started with the essentials only: the caller
    /// writes every resource to the cgroup anyway.
    pub fn start_scope(&mut self, scope: &ScopePath, pid: i32, description: &str, props: &[Value]) -> Result<()> {
        let base = vec![
            Value::property("Description", Value::str(description)),
            Value::property("Slice", Value::str(&scope.slice)),
            Value::property("Delegate", Value::Bool(true)),
            Value::property("PIDs", Value::Array("u".into(), vec![Value::U32(pid as u32)])),
            Value::property("DefaultDependencies", Value::Bool(false)),
        ];
        let mut all = base.clone();
        all.extend_from_slice(props);
        let start = |m: &mut Manager, props: Vec<Value>| {
            m.call(
                "StartTransientUnit",
                &[
                    Value::str(&scope.unit),
                    Value::str("replace"),
                    Value::Array("(sv)".into(), props),
                    Value::Array("(sa(sv))".into(), Vec::new()),
                ],
            )
        };
        let op = "start";
        let reply = match start(self, all.clone()) {
            Ok(r) => r,
            Err(e) if is_error(&e, "org.freedesktop.systemd1.UnitExists") => {
                let _ = self.call("ResetFailedUnit", &[Value::str(&scope.unit)]);
                start(self, all).map_err(|e| {
                    if is_error(&e, "org.freedesktop.systemd1.UnitExists") {
                        Error::SystemdUnitExists(scope.unit.clone())
                    } else {
                        dbus_err(op, &scope.unit)(e)
                    }
                })?
            }
            Err(e) if is_error(&e, "org.freedesktop.DBus.Error.InvalidArgs") && !props.is_empty() => {
                start(self, base).map_err(dbus_err(op, &scope.unit))?
            }
            Err(e) => return Err(dbus_err(op, &scope.unit)(e)),
        };
        self.wait_job(&reply, &scope.unit, op)
    }

    /// Stops the unit and forgets a failed state; a unit that is already
    /// gone (systemd collects an empty scope by itself) is fine.
    pub fn stop(&mut self, unit: &str) -> Result<()> {
        match self.call("StopUnit", &[Value::str(unit), Value::str("replace")]) {
            Ok(reply) => self.wait_job(&reply, unit, "stop")?,
            Err(e) if is_error(&e, "org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(dbus_err("stop", unit)(e)),
        }
        match self.call("ResetFailedUnit", &[Value::str(unit)]) {
            Ok(_) => Ok(()),
            Err(e) if is_error(&e, "org.freedesktop.systemd1.NoSuchUnit") => Ok(()),
            // "not failed" and the like: nothing to reset.
            Err(cella_dbus::Error::Remote { .. }) => Ok(()),
            Err(e) => Err(dbus_err("reset", unit)(e)),
        }
    }

    /// Changes a running unit's properties (for `update`), at runtime only.
    /// Properties an older systemd lacks are dropped one by one.
    pub fn set_properties(&mut self, unit: &str, props: &[Value]) -> Result<()> {
        let mut props = props.to_vec();
        loop {
            let args = [
                Value::str(unit),
                Value::Bool(true),
                Value::Array("(sv)".into(), props.clone()),
            ];
            match self.call("SetUnitProperties", &args) {
                Ok(_) => return Ok(()),
                Err(cella_dbus::Error::Remote { ref name, ref message })
                    if name == "org.freedesktop.DBus.Error.InvalidArgs"
                        || name == "org.freedesktop.DBus.Error.PropertyReadOnly" =>
                {
                    // "Cannot set property X, or unknown property.": drop X.
                    let before = props.len();
                    props.retain(|p| !matches!(p, Value::Struct(f) if matches!(&f[0], Value::Str(n) if message.contains(n.as_str()))));
                    if props.len() == before {
                        return Err(dbus_err("set properties of", unit)(cella_dbus::Error::Remote {
                            name: name.clone(),
                            message: message.clone(),
                        }));
                    }
                }
                Err(e) => return Err(dbus_err("set properties of", unit)(e)),
            }
        }
    }
}
