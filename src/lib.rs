//! # tickwatch
//!
//! The infrastructure layer of an autonomous trading system, linked directly into the
//! engine: metrics, latencies, resource gauges and structured events recorded on a hot path
//! measured in nanoseconds, with no lock, allocation, syscall or formatting on the calling
//! thread.
//!
//! ## How a record travels
//!
//! ```text
//! trading threads                 collector thread                  sinks
//! Metric::record   \   per-thread  drain every ring in turn,        JsonLinesSink (file/stdout)
//! Latency::record   >  SPSC byte   decode records, resolve ids,     MemorySink (tests)
//! event!(...)      /   ring        convert ticks to wall time,      NullSink, your own `Sink`
//!                      (wait-free  hand each batch to every sink
//!                       push)
//! ```
//!
//! * A hot-path call takes a tick (`rdtsc` on an invariant-TSC x86-64), encodes one binary
//!   record (a 32-byte frame for a sample) into the calling thread's own ring and returns.
//!   Each thread's ring is created on its first call ([`Telemetry::preallocate`] does it
//!   ahead of time) and reclaimed after the thread exits.
//! * Names and tags are interned once: handles ([`Metric`], [`Counter`], [`Latency`],
//!   [`Resource`]) carry a 32-bit series id; the by-name calls ([`Telemetry::log_metric`] and
//!   friends) find the id in a per-thread cache that allocates only on a key's first sight.
//!   [`event!`] registers its call site (level, target, message, field names, file, line) once
//!   as static metadata; a record carries the call-site id and the typed values.
//! * When a ring is full, [`Backpressure`] decides: `Block` (default; nothing lost) or `Drop`
//!   (counted exactly per thread and reported to the sinks as a `Dropped` record).
//! * [`Stats`] accounts for every call: `calls == accepted + dropped`, and after
//!   [`Telemetry::flush`], `accepted == delivered`.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use tickwatch::{event, sink::MemorySink, Backpressure, Level, Telemetry};
//!
//! let mem = MemorySink::new();
//! let tw = Telemetry::builder()
//!     .ring_capacity(64 * 1024)
//!     .backpressure(Backpressure::Block)
//!     .sink(mem.clone())
//!     .start()?;
//! let position = tw.metric("position", &[("venue", "XNAS")]);
//! position.record(1.5);
//! let rt = tw.latency("order_roundtrip");
//! rt.record(Duration::from_nanos(850));
//! tw.log_metric("spread", 0.01, &[("venue", "XNAS")]);
//! event!(tw, Level::Info, "order filled", order_id = 42u64, px = 101.25, venue = "XNAS");
//! tw.flush()?;
//! let stats = tw.stats();
//! assert_eq!(stats.accepted, 4);
//! assert_eq!(stats.delivered, 4);
//! assert_eq!(mem.records().len(), 4);
//! tw.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The global instance
//!
//! [`install`] starts an instance behind the seed's free functions ([`log_metric`],
//! [`measure_latency`], [`track_resource_usage`], [`log_event`]) and the global form of
//! [`event!`]; keep the returned guard alive for as long as you log.
//!
//! ## Modules
//!
//! Public: [`metrics`] (handles, series, aggregation, snapshots), [`logging`] (levels,
//! fields, call sites, events, audit records), [`sink`] (where records go), [`health`],
//! [`resources`] (process sampling), [`alerts`], [`export`] (Prometheus text; the `http`
//! feature's endpoint), [`security`] (key ring, authentication, authorization) and
//! [`schema`] (the JSON forms). The pipeline (rings, collector, stats), the series registry
//! and the clock are internal; their public types are re-exported here. The top-level
//! modules form a DAG: the pipeline at the core knows nothing of metrics, health, alerts or
//! export, which plug into its collector and are composed by [`Telemetry`].

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod alerts;
pub mod export;
mod hash;
pub mod health;
pub mod logging;
pub mod metrics;
mod pipeline;
mod record;
pub mod resources;
mod ring;
pub mod schema;
pub mod security;
mod series;
pub mod sink;
mod telemetry;
mod time;

pub use logging::Audit;
pub use logging::{Event, FieldRef, Level, Value};
pub use metrics::{Counter, Latency, LatencyTimer, Metric, RegisterError, Resource};
pub use pipeline::{
    default_latency_buckets, Backpressure, FlushError, ShutdownError, Stats, ThreadStats,
    DEFAULT_BLOCK_TIMEOUT, DEFAULT_FLUSH_INTERVAL, DEFAULT_RING_CAPACITY, MAX_IDLE_INTERVAL,
    MAX_INTERVAL, MAX_LATENCY_BUCKETS, MAX_RING_CAPACITY, MIN_IDLE_INTERVAL, MIN_INTERVAL,
    MIN_RING_CAPACITY,
};
pub use security::authn::{AuthResult, Credentials};
pub use security::authz::{AuthzResult, Decision};
pub use security::crypto::{
    decrypt_data, encrypt_data, install_key_ring, EncryptedData, KeyRing, Plaintext,
};
pub use security::AuditLog;
pub use sink::ThreadInfo;
pub use telemetry::{StartError, Telemetry, TelemetryBuilder};
pub use time::{
    clock_info, ClockInfo, ManualClock, ParseTimestampError, SystemClock, Timestamp, WallClock,
};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;

static GLOBAL: OnceLock<Telemetry> = OnceLock::new();
static CALLS_WITHOUT_INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Starts `builder` as the process's global instance, behind the free functions.
///
/// Returns a guard: dropping it shuts the instance down (drain, flush, join). A process has
/// one global instance; a second `install` fails with [`InstallError::AlreadyInstalled`].
///
/// ```
/// let _guard = tickwatch::install(tickwatch::Telemetry::builder()).unwrap();
/// tickwatch::log_metric("position", 1.5, &[("venue", "XNAS")]);
/// tickwatch::event!(tickwatch::Level::Info, "started", version = 1u64);
/// ```
pub fn install(builder: TelemetryBuilder) -> Result<GlobalGuard, InstallError> {
    if GLOBAL.get().is_some() {
        return Err(InstallError::AlreadyInstalled);
    }
    let tw = builder.start().map_err(InstallError::Start)?;
    GLOBAL.set(tw).map_err(|_| InstallError::AlreadyInstalled)?;
    Ok(GlobalGuard { _private: () })
}

/// The global instance, if [`install`] was called.
pub fn global() -> Option<&'static Telemetry> {
    GLOBAL.get()
}

/// Free-function calls made while no global instance was installed (they record nothing).
pub fn calls_without_instance() -> u64 {
    CALLS_WITHOUT_INSTANCE.load(Relaxed)
}

/// Keeps the global instance running; shuts it down when dropped.
#[must_use = "dropping the guard shuts the global instance down at once"]
#[derive(Debug)]
pub struct GlobalGuard {
    _private: (),
}

impl GlobalGuard {
    /// Shuts the global instance down now, reporting any error.
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        let r = GLOBAL.get().map_or(Ok(()), Telemetry::shutdown_ref);
        std::mem::forget(self);
        r
    }
}

impl Drop for GlobalGuard {
    fn drop(&mut self) {
        if let Some(tw) = GLOBAL.get() {
            let _ = tw.shutdown_ref();
        }
    }
}

/// Why [`install`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InstallError {
    /// A global instance already exists in this process: keep using it (its guard is alive
    /// somewhere), or build a separate [`Telemetry`] instead.
    AlreadyInstalled,
    /// The builder's configuration was refused.
    Start(StartError),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::AlreadyInstalled => f.write_str(
                "a global tickwatch instance is already installed in this process; use tickwatch::global() or a separate Telemetry",
            ),
            InstallError::Start(e) => write!(f, "could not start the global instance: {e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Start(e) => Some(e),
            InstallError::AlreadyInstalled => None,
        }
    }
}

#[inline(always)]
fn with_global(f: impl FnOnce(&Telemetry)) {
    match GLOBAL.get() {
        Some(tw) => f(tw),
        None => {
            CALLS_WITHOUT_INSTANCE.fetch_add(1, Relaxed);
        }
    }
}

/// [`Telemetry::log_metric`] on the global instance.
#[inline]
pub fn log_metric(name: &str, value: f64, tags: &[(&str, &str)]) {
    with_global(|tw| tw.log_metric(name, value, tags));
}

/// [`Telemetry::measure_latency`] on the global instance.
#[inline]
pub fn measure_latency(operation: &str, duration: Duration) {
    with_global(|tw| tw.measure_latency(operation, duration));
}

/// [`Telemetry::measure_latency_with_tags`] on the global instance.
#[inline]
pub fn measure_latency_with_tags(operation: &str, duration: Duration, tags: &[(&str, &str)]) {
    with_global(|tw| tw.measure_latency_with_tags(operation, duration, tags));
}

/// [`Telemetry::track_resource_usage`] on the global instance.
#[inline]
pub fn track_resource_usage(resource: &str, usage: f64) {
    with_global(|tw| tw.track_resource_usage(resource, usage));
}

/// [`Telemetry::track_resource_usage_with_tags`] on the global instance.
#[inline]
pub fn track_resource_usage_with_tags(resource: &str, usage: f64, tags: &[(&str, &str)]) {
    with_global(|tw| tw.track_resource_usage_with_tags(resource, usage, tags));
}

/// [`Telemetry::log_event`] on the global instance.
#[inline]
pub fn log_event(event: &Event<'_>) {
    with_global(|tw| tw.log_event(event));
}

/// [`Telemetry::send_alert`] on the global instance. With none installed the alert is
/// refused ([`alerts::Refusal::NotInstalled`]) and the call counted in
/// [`calls_without_instance`].
///
/// ```
/// use tickwatch::alerts::{Alert, AlertResponse, Severity};
/// let _guard = tickwatch::install(tickwatch::Telemetry::builder()).unwrap();
/// let r = tickwatch::send_alert(Alert::new("risk_limit", Severity::Critical, "gross exposure 96%"));
/// assert!(matches!(r, AlertResponse::Accepted { .. }));
/// ```
pub fn send_alert(alert: alerts::Alert) -> alerts::AlertResponse {
    match GLOBAL.get() {
        Some(tw) => tw.send_alert(alert),
        None => {
            CALLS_WITHOUT_INSTANCE.fetch_add(1, Relaxed);
            alerts::AlertResponse::Refused {
                reason: alerts::Refusal::NotInstalled,
            }
        }
    }
}

/// [`Telemetry::get_system_health`] on the global instance. With none installed the answer
/// is `Unhealthy`, with one `tickwatch` component saying so: the seed promises tickwatch's
/// own health, and an uninstalled pipeline records nothing.
///
/// ```
/// use tickwatch::health::Status;
/// // Nothing installed in this process.
/// let h = tickwatch::get_system_health();
/// assert_eq!(h.status, Status::Unhealthy);
/// assert_eq!(h.components[0].name, "tickwatch");
/// ```
pub fn get_system_health() -> health::HealthStatus {
    match GLOBAL.get() {
        Some(tw) => tw.get_system_health(),
        None => {
            let now = Timestamp::from_unix_nanos(time::unix_now_ns());
            health::HealthStatus {
                status: health::Status::Unhealthy,
                components: vec![health::ComponentHealth {
                    name: "tickwatch".into(),
                    status: health::Status::Unhealthy,
                    message: "no global instance installed: call tickwatch::install".into(),
                    updated_at: now,
                }],
                checked_at: now,
            }
        }
    }
}

/// Checks `credentials` with the process's authenticator (installed with
/// [`security::authn::install_global`]); one audit record per call. Fails closed: with no
/// authenticator installed the answer is [`AuthResult::Denied`].
///
/// ```
/// use tickwatch::{AuthResult, Credentials};
/// // Nothing installed in this process: denied.
/// assert!(matches!(tickwatch::authenticate_user(&Credentials::new("alice", "pw")), AuthResult::Denied));
/// ```
pub fn authenticate_user(credentials: &Credentials<'_>) -> AuthResult {
    security::authn::authenticate_global(credentials)
}

/// Decides whether `user` may perform `action` on `resource` with the process's authorizer
/// (installed with [`security::authz::install_global`]); one audit record per call. Fails
/// closed: with no authorizer installed the answer is [`Decision::Deny`].
///
/// ```
/// use tickwatch::Decision;
/// // Nothing installed in this process: denied.
/// assert_eq!(tickwatch::authorize_action("alice", "cancel", "orders/42").decision, Decision::Deny);
/// ```
#[inline]
pub fn authorize_action(user: &str, action: &str, resource: &str) -> AuthzResult {
    security::authz::authorize_global(user, action, resource)
}

/// Records a structured event: a static message and typed fields, copied in binary.
///
/// Two forms: `event!(tw, level, "message", key = value, ...)` on an instance (`tw` may be a
/// `Telemetry`, a reference to one or an `Arc`), and `event!(level, "message", ...)` on the
/// global instance. `level` must be a constant such as `Level::Info`; values are anything
/// [`FieldRef`] converts from (integers, floats, `bool`, `&str`, `&String`). Arguments are not
/// evaluated when the level is filtered out.
///
/// ```
/// use tickwatch::{event, Level, Telemetry};
/// let tw = Telemetry::builder().start().unwrap();
/// let venue = String::from("XNAS");
/// event!(tw, Level::Info, "order filled", order_id = 42u64, px = 101.25, venue = &venue);
/// ```
#[macro_export]
macro_rules! event {
    ($lvl:path, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {{
        match $crate::global() {
            ::core::option::Option::Some(__tw) => $crate::event!(__tw, $lvl, $msg $(, $k = $v)*),
            ::core::option::Option::None => $crate::__private::count_call_without_instance(),
        }
    }};
    ($tw:expr, $lvl:expr, $msg:literal $(, $k:ident = $v:expr)* $(,)?) => {{
        // `let` extends the borrow's temporary, so `$tw` may itself be `&tw` or `&arc`.
        let __src = &$tw;
        let __tw: &$crate::Telemetry = $crate::__private::AsTelemetry::as_telemetry(__src);
        if __tw.enabled($lvl) {
            static __CALLSITE: $crate::logging::Callsite = $crate::logging::Callsite::new(
                $lvl,
                ::core::module_path!(),
                $msg,
                &[$(::core::stringify!($k)),*],
                ::core::file!(),
                ::core::line!(),
            );
            __tw.__emit(&__CALLSITE, &[$($crate::FieldRef::from($v)),*]);
        }
    }};
}

#[doc(hidden)]
pub mod __private {
    use super::Telemetry;

    pub use crate::time::seam::*;

    /// The global `event!` with no instance installed.
    pub fn count_call_without_instance() {
        super::CALLS_WITHOUT_INSTANCE.fetch_add(1, super::Relaxed);
    }

    /// Lets `event!` accept a `Telemetry`, a reference to one, or an `Arc`.
    pub trait AsTelemetry {
        fn as_telemetry(&self) -> &Telemetry;
    }
    impl AsTelemetry for Telemetry {
        fn as_telemetry(&self) -> &Telemetry {
            self
        }
    }
    impl<T: AsTelemetry + ?Sized> AsTelemetry for &T {
        fn as_telemetry(&self) -> &Telemetry {
            (**self).as_telemetry()
        }
    }
    impl<T: AsTelemetry + ?Sized> AsTelemetry for std::sync::Arc<T> {
        fn as_telemetry(&self) -> &Telemetry {
            (**self).as_telemetry()
        }
    }
}

/// README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Compiled only for the fuzzer (`cargo fuzz` sets `--cfg fuzzing`; `.ci/run` checks the fuzz
/// crate with it), so the entry points are not part of any normal build's API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    //! Entry points for `fuzz/` targets; not a stable API.

    /// Decodes one record payload: the bytes accepted, or `None` for anything malformed.
    /// Must never panic.
    pub fn decode_record(bytes: &[u8]) -> Option<usize> {
        crate::record::decode(bytes).ok().map(|_| bytes.len())
    }

    /// Runs the resource sampler's procfs parsers (`stat`, `status`, `schedstat`) on
    /// `text`; returns how many accepted it. Must never panic.
    pub fn parse_proc(text: &str) -> usize {
        crate::resources::parse_proc_texts(text)
    }
}
