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
//! | `query_logs` | not yet: the durable segment log it searches is the next piece of work | |
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

// The macros first: `event!` and its shorthands, used by the modules below.
#[macro_use]
mod macros;

pub mod alerts;
pub mod export;
mod global;
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

pub use global::{
    authenticate_user, authorize_action, calls_without_instance, decrypt_data, encrypt_data,
    get_system_health, global, install, log_event, log_metric, measure_latency,
    measure_latency_with_tags, send_alert, track_resource_usage, track_resource_usage_with_tags,
    GlobalGuard, InstallError, NotConfigured, MAX_INSTALLS,
};
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
pub use security::crypto::{CryptoError, EncryptedData, KeyRing, Plaintext};
pub use security::AuditLog;
pub use sink::ThreadInfo;
pub use telemetry::{StartError, Telemetry, TelemetryBuilder};
pub use time::{
    clock_info, ClockInfo, ManualClock, ParseTimestampError, SystemClock, Timestamp, WallClock,
};

#[doc(hidden)]
pub mod __private {
    //! What the macros expand to; not a stable API.

    use std::fmt::{self, Write as _};

    use crate::{FieldRef, Telemetry};

    pub use crate::time::seam::*;

    /// The global `event!` with no instance installed.
    pub fn count_call_without_instance() {
        crate::global::count_call_without_instance();
    }

    /// How many format arguments an `event!` call site has (its arguments, stringified).
    pub const fn count_args(args: &[&str]) -> u8 {
        if args.len() > u8::MAX as usize {
            panic!("event!: more than 255 format arguments");
        }
        args.len() as u8
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

    /// The bytes a `?value` or `%value` field is rendered into, on the calling thread's
    /// stack.
    pub const RENDER_LEN: usize = 256;

    /// A `?value` / `%value` field rendered into a fixed stack buffer: no allocation; a
    /// longer rendering is cut at a character boundary and flagged.
    pub struct Render {
        buf: [u8; RENDER_LEN],
        len: usize,
        truncated: bool,
    }

    impl Render {
        #[inline]
        pub fn debug<T: fmt::Debug + ?Sized>(v: &T) -> Render {
            let mut r = Render::empty();
            let _ = write!(r, "{v:?}");
            r
        }

        #[inline]
        pub fn display<T: fmt::Display + ?Sized>(v: &T) -> Render {
            let mut r = Render::empty();
            let _ = write!(r, "{v}");
            r
        }

        fn empty() -> Render {
            Render {
                buf: [0; RENDER_LEN],
                len: 0,
                truncated: false,
            }
        }

        pub fn as_str(&self) -> &str {
            // Only whole `&str`s (or their char-boundary prefixes) are copied in, so this
            // never fails; an empty string stands in if it ever did.
            std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
        }
    }

    impl fmt::Debug for Render {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Render")
                .field("text", &self.as_str())
                .field("truncated", &self.truncated)
                .finish()
        }
    }

    impl fmt::Write for Render {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = RENDER_LEN - self.len;
            let n = if s.len() <= room {
                s.len()
            } else {
                self.truncated = true;
                // The longest prefix that fits and ends on a character boundary.
                (0..=room)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0)
            };
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            if self.truncated {
                // Stop the formatter: nothing more fits.
                return Err(fmt::Error);
            }
            Ok(())
        }
    }

    /// A `name = value` field's value: anything a [`FieldRef`] converts from.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be an event field value",
        label = "not an integer, float, bool, &str, &String or Option of one",
        note = "render it with `name = ?value` (Debug) or `name = %value` (Display), or convert it"
    )]
    pub trait IntoField<'a> {
        fn into_field(self) -> FieldRef<'a>;
    }
    // One impl per type (not a blanket one over `Into<FieldRef>`), so that a type that is
    // not a field value gets the message above rather than one about `From`.
    macro_rules! into_field {
        ($($t:ty),*) => {$(
            impl<'a> IntoField<'a> for $t {
                #[inline(always)]
                fn into_field(self) -> FieldRef<'a> {
                    FieldRef::from(self)
                }
            }
            impl<'a> IntoField<'a> for &'a $t {
                #[inline(always)]
                fn into_field(self) -> FieldRef<'a> {
                    FieldRef::from(self)
                }
            }
        )*};
    }
    into_field!(
        u8,
        u16,
        u32,
        u64,
        usize,
        i8,
        i16,
        i32,
        i64,
        isize,
        f32,
        f64,
        bool,
        &'a str
    );
    impl<'a> IntoField<'a> for &'a String {
        #[inline(always)]
        fn into_field(self) -> FieldRef<'a> {
            FieldRef::Str(self)
        }
    }
    impl<'a, T: IntoField<'a>> IntoField<'a> for Option<T> {
        #[inline(always)]
        fn into_field(self) -> FieldRef<'a> {
            self.map_or(FieldRef::None, IntoField::into_field)
        }
    }
    impl<'a> IntoField<'a> for FieldRef<'a> {
        #[inline(always)]
        fn into_field(self) -> FieldRef<'a> {
            self
        }
    }

    /// A prepared field value: a plain `FieldRef` or a rendered one.
    pub trait Field {
        fn get(&self) -> FieldRef<'_>;
        fn truncated(&self) -> bool;
    }
    impl Field for FieldRef<'_> {
        #[inline(always)]
        fn get(&self) -> FieldRef<'_> {
            *self
        }
        #[inline(always)]
        fn truncated(&self) -> bool {
            false
        }
    }
    impl Field for Render {
        #[inline]
        fn get(&self) -> FieldRef<'_> {
            FieldRef::Str(self.as_str())
        }
        #[inline]
        fn truncated(&self) -> bool {
            self.truncated
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
