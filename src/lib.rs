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
//!     .ring_capacity(256 * 1024)
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
//! ## The ten operations
//!
//! One [`install`] takes a [`TelemetryBuilder`] and sets up everything the seed's free
//! functions need; keep the returned guard alive for as long as you log (dropping it shuts
//! the instance down; a new `install` works after). Each has a method on [`Telemetry`] too,
//! for code that holds an instance rather than using the global one.
//!
//! | operation | signature | what it needs from the builder |
//! |---|---|---|
//! | [`log_metric`] | `fn log_metric(name: &str, value: f64, tags: &[(&str, &str)])` | nothing |
//! | [`log_event`] | `fn log_event(event: &Event<'_>)`; or [`event!`], [`info!`] and friends | nothing |
//! | [`measure_latency`] | `fn measure_latency(operation: &str, duration: Duration)`; [`measure_latency_with_tags`] | nothing |
//! | [`track_resource_usage`] | `fn track_resource_usage(resource: &str, usage: f64)`; [`track_resource_usage_with_tags`] | nothing |
//! | [`send_alert`] | `fn send_alert(alert: alerts::Alert) -> alerts::AlertResponse` | where alerts go: [`TelemetryBuilder::alert_route`], [`alert_log`](TelemetryBuilder::alert_log) |
//! | [`get_system_health`] | `fn get_system_health() -> health::HealthStatus` | nothing |
//! | [`query_logs`] | `fn query_logs(query: &store::LogQuery) -> Result<store::LogResults, store::QueryError>` | a log to search: [`TelemetryBuilder::segment_log`] |
//! | [`encrypt_data`] | `fn encrypt_data(data: &[u8], key_id: &str) -> Result<EncryptedData, CryptoError>` | [`TelemetryBuilder::key_ring`] |
//! | [`decrypt_data`] | `fn decrypt_data(data: &EncryptedData) -> Result<Plaintext, CryptoError>` | [`TelemetryBuilder::key_ring`] |
//! | [`authenticate_user`] | `fn authenticate_user(credentials: &Credentials<'_>) -> Result<AuthResult, NotConfigured>` | [`TelemetryBuilder::authenticator`] |
//! | [`authorize_action`] | `fn authorize_action(user: &str, action: &str, resource: &str) -> Result<AuthzResult, NotConfigured>` | [`TelemetryBuilder::authorizer`] |
//!
//! A part that was not configured answers with a typed error naming the builder call
//! ([`NotConfigured`], [`CryptoError::NoKeyRing`]), never a silent deny; the hot-path
//! operations, which return nothing, count a call made with no instance installed in
//! [`calls_without_instance`].
//!
//! ```
//! use std::time::Duration;
//! let _guard = tickwatch::install(tickwatch::Telemetry::builder())?;
//! tickwatch::log_metric("spread", 0.01, &[("venue", "XNAS")]);
//! tickwatch::measure_latency("order_roundtrip", Duration::from_micros(42));
//! tickwatch::track_resource_usage("order_book_depth", 0.42);
//! tickwatch::warn!("order {} rejected", 42u64, reason = "risk limit");
//! assert!(tickwatch::authorize_action("alice", "cancel", "orders/42").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//!
//! Public: [`metrics`] (handles, aggregation, snapshots), [`logging`] (levels, fields, call
//! sites, events, audit records), [`sink`] (where records go), [`store`] (the durable segment
//! log, its recovery and queries), [`recovery`] (spool and replay, failover, backup),
//! [`health`], [`resources`] (process sampling), [`alerts`], [`export`] (Prometheus text; the
//! `http` feature's endpoint; the `otlp` feature's exporter), [`adapters`] (the `tracing`
//! layer and the `metrics` recorder), [`security`] (key ring, authentication, authorization)
//! and [`schema`] (the JSON forms). The global instance and the free functions are in this
//! page's root ([`install`], [`global`]). The pipeline (rings, collector, stats), the series registry
//! and the clock are internal; their public types are re-exported here. The top-level
//! modules form a DAG: the pipeline at the core knows nothing of metrics, health, alerts or
//! export, which plug into its collector and are composed by [`Telemetry`].

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]
#![warn(unreachable_pub)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// The macros first: `event!` and its shorthands, used by the modules below.
#[macro_use]
mod macros;

pub mod adapters;
mod affinity;
pub mod alerts;
pub mod export;
mod fsio;
mod global;
mod hash;
pub mod health;
pub mod logging;
pub mod metrics;
mod panics;
mod pipeline;
mod record;
pub mod recovery;
pub mod resources;
mod ring;
pub mod schema;
pub mod security;
mod series;
pub mod sink;
pub mod store;
mod telemetry;
mod time;

pub use affinity::{pin_current_thread, PinError, ThreadPlacement, MAX_CPU};
pub use global::{
    authenticate_user, authorize_action, calls_without_instance, decrypt_data, encrypt_data,
    get_system_health, global, install, log_event, log_metric, measure_latency,
    measure_latency_with_tags, query_logs, send_alert, track_resource_usage,
    track_resource_usage_with_tags, GlobalGuard, InstallError, NotConfigured,
};
pub use logging::Audit;
pub use logging::{Event, FieldRef, Level, Value};
pub use metrics::{Counter, Latency, LatencyTimer, Metric, RegisterError, Resource};
pub use pipeline::{
    default_latency_buckets, Backpressure, FlushError, PipelineConfig, ShutdownError, SinkStats,
    Stats, ThreadStats, DEFAULT_BLOCK_TIMEOUT, DEFAULT_FLUSH_INTERVAL, DEFAULT_RING_CAPACITY,
    MAX_COLLECTOR_SPIN, MAX_IDLE_INTERVAL, MAX_INTERVAL, MAX_LATENCY_BUCKETS, MAX_RING_CAPACITY,
    MIN_IDLE_INTERVAL, MIN_INTERVAL, MIN_RING_CAPACITY,
};
pub use security::authn::{AuthResult, Credentials};
pub use security::authz::{AuthzResult, Decision};
pub use security::crypto::{CryptoError, EncryptedData, KeyRing, Plaintext};
pub use security::AuditLog;
pub use sink::ThreadInfo;
pub use telemetry::{
    Config, ConfigError, ConfigSource, ConfigWatch, ConfigWatchStats, DurabilityName,
    KeyRingSection, MonitoringConfig, PrometheusSection, ReloadError, ReloadReport, RouteSpec,
    RouteTarget, SecuritySection, SegmentLogSection, StartError, Telemetry, TelemetryBuilder,
};
pub use time::{
    clock_info, ClockInfo, ManualClock, ParseTimestampError, SystemClock, Timestamp, WallClock,
};

#[doc(hidden)]
pub use macros::__private;

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

    /// Reads arbitrary bytes as a segment (frames, dictionary, records, in both the
    /// stop-at-damage and the skip-damage walks). Must never panic.
    pub fn segment(data: &[u8]) {
        crate::store::fuzzing::segment(data)
    }

    /// Recovers arbitrary bytes as an unsealed segment (what `SegmentLog` does on open).
    /// Must never panic; the kept prefix never extends past the input.
    pub fn segment_recovery(data: &[u8]) {
        crate::store::fuzzing::recovery(data)
    }

    /// Parses arbitrary text as a `LogQuery`. Must never panic.
    pub fn query_text(text: &str) {
        crate::store::fuzzing::query_text(text)
    }
}
