//! Health: one answer for the whole system, and for each component that contributes to it.
//!
//! Components report in one of two ways:
//!
//! * **Checks** ([`Health::register_check`]): a closure run *every time health is asked
//!   for*, on the asking thread ([`Health::get_system_health`]). Right for something cheap to
//!   look at from anywhere (an atomic, a connection flag). A check that panics is caught and
//!   reported [`Status::Unhealthy`]; a slow check delays the caller (checks run one after the
//!   other, outside every lock, so it delays nothing else): keep checks to a few
//!   microseconds, and turn anything slower into a pushed status updated by whoever does the
//!   slow work.
//! * **Pushed statuses** ([`Health::register_pushed`]): the component calls
//!   [`HealthHandle::set`] from any thread when its state changes (or on every round of its
//!   own loop), which records the time of the update. Until its first update it is
//!   [`Status::Unknown`] ("pending"): registered is not measured. Optionally the status goes
//!   **stale**: with a [`Staleness`], a status not updated for longer than `after` is
//!   reported as at least `becomes` when health is asked for. That is how a component that stops running
//!   (a stalled collector, a dead feed handler) shows up even though nothing of it runs to
//!   say so: the comparison happens in `get_system_health`, on the asking thread.
//!
//! The overall status is the worst of the parts ([`Status`] is ordered: `healthy <
//! unknown < degraded < unhealthy`), `Healthy` when no component is registered. So a system
//! with a part not measured yet reads `unknown`, never `healthy`, while a measured problem
//! elsewhere still shows as itself. tickwatch's own components
//! ([`component`]) start unknown and leave it at the
//! collector's first judgement of each. Time comes from a [`WallClock`]: the system clock
//! by default, a [`ManualClock`](crate::ManualClock) in tests.
//!
//! ```
//! use std::time::Duration;
//! use tickwatch::health::{Health, Staleness, Status};
//!
//! let health = Health::new();
//! health.register_check("db", || (Status::Healthy, "connected".to_string())).unwrap();
//! let feed = health
//!     .register_pushed("feed", Some(Staleness::unhealthy_after(Duration::from_secs(5))))
//!     .unwrap();
//! assert_eq!(health.get_system_health().status, Status::Unknown); // feed: nothing pushed yet
//! feed.set(Status::Degraded, "venue XNAS lagging 40 ms");
//! let h = health.get_system_health();
//! assert_eq!(h.status, Status::Degraded);
//! assert_eq!(h.component("feed").unwrap().message, "venue XNAS lagging 40 ms");
//! ```

mod components;
mod selfwatch;

pub(crate) use selfwatch::{SelfWatch, SelfWatchTask, SinkConditions};

use crate::time::{SystemClock, WallClock};
pub use components::{
    Bound, CollectorInput, CollectorPolicy, CostBudget, ResourceThresholds, RingInput, RingPolicy,
    SinkHealth, SinkPolicy,
};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::panics::panic_text;
use crate::Timestamp;

/// How well a component (or the whole system) is doing. Ordered: `Healthy < Unknown <
/// Degraded < Unhealthy`, so the worst of several is their `max`.
///
/// [`Unknown`](Status::Unknown) sits just above `Healthy`: a system with a part that has not
/// been measured yet must not read healthy, but any measured problem outranks it, so a
/// degraded or unhealthy part is never hidden behind one still pending.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Working as intended.
    #[default]
    Healthy,
    /// No measurement yet (serialized `"unknown"`): a pushed component before its first
    /// [`HealthHandle::set`], a built-in component before the collector's first judgement of
    /// it (see [`component`]), or a check that cannot tell.
    Unknown,
    /// Working, but something needs attention (drops, errors, lag, a budget exceeded).
    Degraded,
    /// Not doing its job (stalled, failing, or its check panicked).
    Unhealthy,
}

impl Status {
    /// The worse of the two.
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// `"healthy"`, `"unknown"`, `"degraded"` or `"unhealthy"` (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Unknown => "unknown",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check (or a built-in evaluator) says about one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentCheck {
    /// The component's status.
    pub status: Status,
    /// Why, for a human: what is wrong and, ideally, what to do.
    pub message: String,
}

impl ComponentCheck {
    /// A check result.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        ComponentCheck {
            status,
            message: message.into(),
        }
    }

    /// `Healthy` with a message.
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(Status::Healthy, message)
    }
}

impl From<(Status, String)> for ComponentCheck {
    fn from((status, message): (Status, String)) -> Self {
        ComponentCheck { status, message }
    }
}

impl From<(Status, &str)> for ComponentCheck {
    fn from((status, message): (Status, &str)) -> Self {
        Self::new(status, message)
    }
}

/// One component in a [`HealthStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComponentHealth {
    /// The name it was registered under.
    pub name: String,
    /// Its status (for a stale pushed status: at least the staleness's `becomes`).
    pub status: Status,
    /// Its message.
    pub message: String,
    /// When the status was last updated: the last [`HealthHandle::set`] for a pushed
    /// status, the moment the check ran for a check.
    pub updated_at: Timestamp,
}

/// The answer of [`Health::get_system_health`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthStatus {
    /// The worst of `components`; `Healthy` if there are none.
    pub status: Status,
    /// Every registered component, in registration order.
    pub components: Vec<ComponentHealth>,
    /// When the answer was computed.
    pub checked_at: Timestamp,
}

impl HealthStatus {
    /// The component registered under `name`, if any.
    pub fn component(&self, name: &str) -> Option<&ComponentHealth> {
        self.components.iter().find(|c| c.name == name)
    }

    /// `status == Healthy`.
    pub fn is_healthy(&self) -> bool {
        self.status == Status::Healthy
    }
}

/// When a pushed status counts as stale, and what it then becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staleness {
    /// A status older than this (now − last update > `after`) is stale.
    pub after: Duration,
    /// A stale component is reported as the worse of its pushed status and this.
    pub becomes: Status,
}

impl Staleness {
    /// Stale after `after`, then `Unhealthy`: for something that must keep running.
    pub fn unhealthy_after(after: Duration) -> Self {
        Staleness {
            after,
            becomes: Status::Unhealthy,
        }
    }

    /// Stale after `after`, then `Degraded`: for something whose silence is suspicious but
    /// not fatal.
    pub fn degraded_after(after: Duration) -> Self {
        Staleness {
            after,
            becomes: Status::Degraded,
        }
    }
}

/// Why [`Health::register_check`] or [`Health::register_pushed`] refused a component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterHealthError {
    /// A component with this name is already registered: pick another name, or
    /// [`Health::unregister`] the old one first.
    Duplicate(String),
    /// The name is empty: give the component a name an operator will recognise.
    EmptyName,
}

impl fmt::Display for RegisterHealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterHealthError::Duplicate(n) => write!(
                f,
                "a health component named {n:?} is already registered; pick another name or unregister it first"
            ),
            RegisterHealthError::EmptyName => {
                f.write_str("a health component needs a non-empty name")
            }
        }
    }
}

impl std::error::Error for RegisterHealthError {}

/// The message of a pushed component that has not reported yet (its status is
/// [`Status::Unknown`]).
pub const PENDING: &str = "pending: no measurement yet";

type CheckFn = dyn Fn() -> ComponentCheck + Send + Sync;

/// The last status pushed through a [`HealthHandle`].
struct Pushed {
    status: Status,
    message: String,
    updated_at: Timestamp,
}

struct PushedSlot {
    state: Mutex<Pushed>,
    staleness: Option<Staleness>,
}

#[derive(Clone)]
enum Source {
    Check(Arc<CheckFn>),
    Pushed(Arc<PushedSlot>),
}

struct Component {
    name: String,
    source: Source,
}

struct Inner {
    clock: Arc<dyn WallClock>,
    components: RwLock<Vec<Component>>,
}

/// The health registry: components register checks or pushed statuses, anyone asks for
/// the overall answer. Cheap to clone (an `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .inner
            .components
            .read()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        f.debug_struct("Health")
            .field("components", &names)
            .finish()
    }
}

impl Health {
    /// An empty registry on the system clock.
    pub fn new() -> Health {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty registry on `clock` (a [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(clock: Arc<dyn WallClock>) -> Health {
        Health {
            inner: Arc::new(Inner {
                clock,
                components: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The registry's current time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn add(&self, name: &str, source: Source) -> Result<(), RegisterHealthError> {
        if name.is_empty() {
            return Err(RegisterHealthError::EmptyName);
        }
        let mut components = self.inner.components.write();
        if components.iter().any(|c| c.name == name) {
            return Err(RegisterHealthError::Duplicate(name.to_string()));
        }
        components.push(Component {
            name: name.to_string(),
            source,
        });
        Ok(())
    }

    /// Registers a check run on every [`Health::get_system_health`], on the asking thread.
    ///
    /// `check` returns a [`ComponentCheck`] or a `(Status, String)`. If it panics, the
    /// component is reported `Unhealthy` with the panic message (the process's panic hook
    /// still prints it). Keep it fast: see the module documentation.
    pub fn register_check<F, R>(&self, name: &str, check: F) -> Result<(), RegisterHealthError>
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: Into<ComponentCheck>,
    {
        self.add(name, Source::Check(Arc::new(move || check().into())))
    }

    /// Registers a component that pushes its status through the returned handle. It starts
    /// [`Status::Unknown`] (message [`PENDING`], updated now) until the first
    /// [`HealthHandle::set`]: registered is not yet measured. With `staleness`, a status not
    /// updated for longer than `staleness.after` is reported as at least `staleness.becomes`
    /// (a component that never reports goes stale too).
    pub fn register_pushed(
        &self,
        name: &str,
        staleness: Option<Staleness>,
    ) -> Result<HealthHandle, RegisterHealthError> {
        let slot = Arc::new(PushedSlot {
            state: Mutex::new(Pushed {
                status: Status::Unknown,
                message: String::from(PENDING),
                updated_at: self.now(),
            }),
            staleness,
        });
        self.add(name, Source::Pushed(slot.clone()))?;
        Ok(HealthHandle {
            slot,
            clock: self.inner.clock.clone(),
        })
    }

    /// Removes the component registered under `name`; `false` if there was none. Handles
    /// to a removed pushed status keep working but no longer count.
    pub fn unregister(&self, name: &str) -> bool {
        let mut components = self.inner.components.write();
        let before = components.len();
        components.retain(|c| c.name != name);
        components.len() != before
    }

    /// Every component's status and the worst of them. Runs every check (on this thread)
    /// and ages every pushed status against the clock.
    pub fn get_system_health(&self) -> HealthStatus {
        // Copy the sources out so that checks run outside the lock: a slow check then
        // delays only this caller, and a check may itself register or push.
        let sources: Vec<(String, Source)> = self
            .inner
            .components
            .read()
            .iter()
            .map(|c| (c.name.clone(), c.source.clone()))
            .collect();
        let mut components = Vec::with_capacity(sources.len());
        for (name, source) in sources {
            let (status, message, updated_at) = match source {
                Source::Check(check) => {
                    let r = run_check(&*check);
                    (r.status, r.message, self.now())
                }
                Source::Pushed(slot) => read_pushed(&slot, self.now()),
            };
            components.push(ComponentHealth {
                name,
                status,
                message,
                updated_at,
            });
        }
        HealthStatus {
            status: components
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Status::Healthy),
            components,
            checked_at: self.now(),
        }
    }

    /// The overall status alone (runs every check, like [`Health::get_system_health`]).
    pub fn status(&self) -> Status {
        self.get_system_health().status
    }
}

fn run_check(check: &CheckFn) -> ComponentCheck {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(r) => r,
        Err(payload) => {
            let what = panic_text(&*payload).unwrap_or("non-string panic payload");
            ComponentCheck::new(
                Status::Unhealthy,
                format!("health check panicked: {what}; fix the check (it must return a status, not panic)"),
            )
        }
    }
}

fn read_pushed(slot: &PushedSlot, now: Timestamp) -> (Status, String, Timestamp) {
    let p = slot.state.lock();
    let (status, message, updated_at) = (p.status, p.message.clone(), p.updated_at);
    drop(p);
    if let Some(st) = slot.staleness {
        let age = Duration::from_nanos(now.unix_nanos().saturating_sub(updated_at.unix_nanos()));
        if age > st.after {
            return (
                status.worst(st.becomes),
                format!(
                    "stale: no update for {:.3} s (limit {:.3} s); last: {status}: {message}",
                    age.as_secs_f64(),
                    st.after.as_secs_f64()
                ),
                updated_at,
            );
        }
    }
    (status, message, updated_at)
}

/// Pushes one component's status into its [`Health`]. Cheap (an uncontended lock, a clock
/// read and a copy of the message into a reused buffer); callable from any thread; clone it
/// freely.
#[derive(Clone)]
pub struct HealthHandle {
    slot: Arc<PushedSlot>,
    clock: Arc<dyn WallClock>,
}

impl fmt::Debug for HealthHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.slot.state.lock();
        f.debug_struct("HealthHandle")
            .field("status", &p.status)
            .field("message", &p.message)
            .field("updated_at", &p.updated_at)
            .finish()
    }
}

impl HealthHandle {
    /// Records `status` and `message` as of now.
    pub fn set(&self, status: Status, message: &str) {
        let now = self.clock.now();
        let mut p = self.slot.state.lock();
        p.status = status;
        // Reuse the buffer: a component pushing on every round allocates only when its
        // message outgrows every earlier one.
        p.message.clear();
        p.message.push_str(message);
        p.updated_at = now;
    }

    /// Records a [`ComponentCheck`] (the output of a built-in evaluator) as of now.
    pub fn set_check(&self, check: &ComponentCheck) {
        self.set(check.status, &check.message);
    }

    /// Marks the component as alive without changing its status or message: refreshes
    /// `updated_at`, which is what staleness looks at.
    pub fn touch(&self) {
        let now = self.clock.now();
        self.slot.state.lock().updated_at = now;
    }

    /// The last pushed status (not aged: staleness applies in `get_system_health`).
    pub fn last(&self) -> ComponentCheck {
        let p = self.slot.state.lock();
        ComponentCheck::new(p.status, p.message.as_str())
    }
}

/// Names of the health components every instance registers (see [`crate::Telemetry::health`]).
///
/// Each starts [`Status::Unknown`] ("pending: no
/// measurement yet"), so a fresh instance reads `unknown`, not `healthy`, and leaves it at
/// the collector's first judgement of it: the collector, the sinks and the alerts at the
/// first tick (at most 100 ms after start, then every
/// [`monitor_tick`](crate::TelemetryBuilder::monitor_tick)), the
/// rings, resources and budget at the first resource sample, taken at that same tick (with
/// sampling off, the rings are judged on every tick).
pub mod component {
    /// The collector: unhealthy when it stops ticking (`CollectorPolicy::stale_after`),
    /// degraded or unhealthy when it lags the producers.
    pub const COLLECTOR: &str = "tickwatch.collector";
    /// The rings: degraded when records were dropped in the last sampling interval (the first
    /// judgement counts every drop since start).
    pub const RINGS: &str = "tickwatch.rings";
    /// The record sinks together: degraded on errors, unhealthy when they persist.
    pub const SINKS: &str = "tickwatch.sinks";
    /// Each sink on its own, judged as [`SINKS`]: this prefix and the sink's
    /// [`name`](crate::sink::Sink::name) (`tickwatch.sink.json`), with `#<position>` appended
    /// to a name an earlier sink already has.
    pub const SINK_PREFIX: &str = "tickwatch.sink.";
    /// Alert delivery: degraded when an alert sink failed in the last tick.
    pub const ALERTS: &str = "tickwatch.alerts";
    /// The process's resources against [`ResourceThresholds`](crate::health::ResourceThresholds).
    pub const RESOURCES: &str = "tickwatch.resources";
    /// tickwatch's own cost against [`CostBudget`](crate::health::CostBudget): the
    /// collector's own CPU (monitoring) and the time inside the sinks (logging), each judged
    /// on its own.
    pub const BUDGET: &str = "tickwatch.budget";
    /// The configuration: registered at an instance's first
    /// [`reload`](crate::Telemetry::reload); degraded while the last reload was refused (the
    /// message says why; the previous configuration keeps running), healthy once one applies.
    pub const CONFIG: &str = "tickwatch.config";
}
