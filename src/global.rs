//! The process's global instance and the seed's free functions on it.
//!
//! [`install`] takes one [`TelemetryBuilder`] and sets up everything the free functions
//! need: telemetry, and, when the builder was given them, the key ring
//! ([`TelemetryBuilder::key_ring`]), the authenticator
//! ([`TelemetryBuilder::authenticator`]) and the authorizer
//! ([`TelemetryBuilder::authorizer`]). A free function whose part was not configured says so
//! with a typed error naming the builder call that is missing ([`NotConfigured`],
//! [`CryptoError::NoKeyRing`]); the hot-path ones (`log_metric` and friends), which cannot
//! return an error, count the call in [`calls_without_instance`].
//!
//! After the guard is dropped (or [`GlobalGuard::shutdown`]), or once the installed instance
//! is shut down any other way (`global().unwrap().close()`), a new [`install`] works, as
//! often as a process likes. Each install's instance stays allocated (shut down, its rings
//! freed) for the rest of the process, so that a `&'static Telemetry` from [`global`] never
//! dangles: a few tens of KiB per install.

use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;

use crate::alerts::{Alert, AlertResponse, Refusal};
use crate::health::{ComponentHealth, HealthStatus, Status};
use crate::logging::Audit;
use crate::security::authn::{AuthResult, Credentials};
use crate::security::authz::AuthzResult;
use crate::security::crypto::{CryptoError, EncryptedData, Plaintext};
use crate::{Event, ShutdownError, StartError, Telemetry, TelemetryBuilder, Timestamp};

/// The installed instance, or null. Every non-null value was made by `Box::leak` and is
/// never freed, so a reference made from it is valid for `'static`.
static CURRENT: AtomicPtr<Telemetry> = AtomicPtr::new(std::ptr::null_mut());
/// Serialises install and uninstall (cold paths); the free functions only read `CURRENT`.
static INSTALLING: Mutex<()> = Mutex::new(());
static CALLS_WITHOUT_INSTANCE: AtomicU64 = AtomicU64::new(0);

/// Starts `builder` as the process's global instance, behind the free functions.
///
/// Returns a guard: dropping it shuts the instance down (drain, flush, join) and uninstalls
/// it, after which `install` may be called again.
///
/// ```
/// let guard = tickwatch::install(tickwatch::Telemetry::builder()).unwrap();
/// tickwatch::log_metric("position", 1.5, &[("venue", "XNAS")]);
/// tickwatch::info!("started", version = 1u64);
/// guard.shutdown().unwrap();
/// // Installed again, with a fresh instance.
/// let _guard = tickwatch::install(tickwatch::Telemetry::builder()).unwrap();
/// ```
pub fn install(builder: TelemetryBuilder) -> Result<GlobalGuard, InstallError> {
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    // An installed instance shut down some other way than through its guard (`close`)
    // takes no records any more: it may be replaced.
    if global().is_some_and(|tw| !tw.shared.is_stopping()) {
        return Err(InstallError::AlreadyInstalled);
    }
    let tw: &'static Telemetry = Box::leak(Box::new(builder.start().map_err(InstallError::Start)?));
    CURRENT.store(std::ptr::from_ref(tw).cast_mut(), Release);
    Ok(GlobalGuard { instance: tw })
}

/// The global instance, if one is installed.
#[inline]
pub fn global() -> Option<&'static Telemetry> {
    let ptr = CURRENT.load(Acquire);
    // SAFETY: `CURRENT` holds null or a pointer from `Box::leak` in `install`, which is never
    // freed (nor written through): the shared reference is valid for `'static`. The Acquire
    // load pairs with the Release store that published the fully built instance.
    unsafe { ptr.as_ref() }
}

/// Free-function calls made while no global instance was installed (they record nothing).
pub fn calls_without_instance() -> u64 {
    CALLS_WITHOUT_INSTANCE.load(Relaxed)
}

pub(crate) fn count_call_without_instance() {
    CALLS_WITHOUT_INSTANCE.fetch_add(1, Relaxed);
}

/// Keeps the global instance running; shuts it down and uninstalls it when dropped.
#[must_use = "dropping the guard shuts the global instance down at once"]
#[derive(Debug)]
pub struct GlobalGuard {
    /// The instance this guard installed.
    instance: &'static Telemetry,
}

impl GlobalGuard {
    /// Shuts the global instance down now and uninstalls it, reporting any error (it is
    /// uninstalled either way).
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        let r = self.uninstall();
        std::mem::forget(self);
        r
    }

    fn uninstall(&self) -> Result<(), ShutdownError> {
        let _lock = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        // New calls see no instance from here on; calls already inside it find it stopping.
        // (Another install may have replaced a closed instance: that one is not ours.)
        let ours = std::ptr::from_ref(self.instance).cast_mut();
        let _ = CURRENT.compare_exchange(ours, std::ptr::null_mut(), AcqRel, Acquire);
        self.instance.shutdown_ref()
    }
}

impl Drop for GlobalGuard {
    fn drop(&mut self) {
        let _ = self.uninstall();
    }
}

/// Why [`install`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InstallError {
    /// A global instance is installed already: keep using it ([`global`]), drop its guard
    /// first, or build a separate [`Telemetry`].
    AlreadyInstalled,
    /// The builder's configuration was refused.
    Start(StartError),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::AlreadyInstalled => f.write_str(
                "a global tickwatch instance is already installed in this process; use tickwatch::global(), drop its guard first, or build a separate Telemetry",
            ),
            InstallError::Start(e) => write!(f, "could not start the global instance: {e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Start(e) => Some(e),
            _ => None,
        }
    }
}

/// A free function's part of the global instance is missing: the variant names the call
/// that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotConfigured {
    /// No global instance: call [`install`].
    NoInstance,
    /// The instance has no authenticator: give one to
    /// [`TelemetryBuilder::authenticator`] before [`install`].
    NoAuthenticator,
    /// The instance has no authorizer: give one to [`TelemetryBuilder::authorizer`] before
    /// [`install`].
    NoAuthorizer,
}

impl fmt::Display for NotConfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotConfigured::NoInstance => {
                "no global tickwatch instance: call tickwatch::install(builder) first"
            }
            NotConfigured::NoAuthenticator => {
                "the global instance has no authenticator: give one to TelemetryBuilder::authenticator before tickwatch::install"
            }
            NotConfigured::NoAuthorizer => {
                "the global instance has no authorizer: give one to TelemetryBuilder::authorizer before tickwatch::install"
            }
        })
    }
}

impl std::error::Error for NotConfigured {}

#[inline(always)]
fn with_global(f: impl FnOnce(&Telemetry)) {
    match global() {
        Some(tw) => f(tw),
        None => count_call_without_instance(),
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
/// refused ([`Refusal::NotInstalled`]) and the call counted in [`calls_without_instance`].
///
/// ```
/// use tickwatch::alerts::{Alert, AlertResponse, Severity};
/// use tickwatch::alerts::SeverityFilter;
/// let _guard = tickwatch::install(tickwatch::Telemetry::builder().alert_log(SeverityFilter::all())).unwrap();
/// let r = tickwatch::send_alert(Alert::new("risk_limit", Severity::Critical, "gross exposure 96%"));
/// assert!(matches!(r, AlertResponse::Accepted { .. }));
/// ```
pub fn send_alert(alert: Alert) -> AlertResponse {
    match global() {
        Some(tw) => tw.send_alert(alert),
        None => {
            count_call_without_instance();
            AlertResponse::Refused {
                reason: Refusal::NotInstalled,
            }
        }
    }
}

/// The seed's `query_logs`: [`Telemetry::query_logs`] on the global instance, or
/// [`QueryError::NotInstalled`](crate::store::QueryError::NotInstalled) with none.
///
/// ```
/// use tickwatch::store::{LogQuery, QueryError};
/// assert!(matches!(tickwatch::query_logs(&LogQuery::new()), Err(QueryError::NotInstalled)));
/// ```
pub fn query_logs(
    query: &crate::store::LogQuery,
) -> Result<crate::store::LogResults, crate::store::QueryError> {
    global()
        .ok_or(crate::store::QueryError::NotInstalled)?
        .query_logs(query)
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
pub fn get_system_health() -> HealthStatus {
    match global() {
        Some(tw) => tw.get_system_health(),
        None => {
            let now = Timestamp::from_unix_nanos(crate::time::unix_now_ns());
            HealthStatus {
                status: Status::Unhealthy,
                components: vec![ComponentHealth {
                    name: "tickwatch".into(),
                    status: Status::Unhealthy,
                    message: "no global instance installed: call tickwatch::install".into(),
                    updated_at: now,
                }],
                checked_at: now,
            }
        }
    }
}

/// Checks `credentials` with the global instance's authenticator
/// ([`TelemetryBuilder::authenticator`]); one audit record per call. Without one, a
/// [`NotConfigured`] error naming the missing call (never a silent deny).
///
/// ```
/// use tickwatch::{Credentials, NotConfigured};
/// // Nothing installed in this process.
/// let r = tickwatch::authenticate_user(&Credentials::new("alice", "pw"));
/// assert_eq!(r.unwrap_err(), NotConfigured::NoInstance);
/// ```
pub fn authenticate_user(credentials: &Credentials<'_>) -> Result<AuthResult, NotConfigured> {
    let tw = global().ok_or(NotConfigured::NoInstance)?;
    match tw.authenticator() {
        Some(a) => Ok(a.authenticate_user(credentials)),
        None => {
            tw.audit(&Audit {
                actor: crate::record::clip(credentials.username, 64).0,
                action: "authenticate",
                resource: "session",
                outcome: "error",
                rule: "",
                detail: "no-authenticator-configured",
            });
            Err(NotConfigured::NoAuthenticator)
        }
    }
}

/// Decides whether `user` may perform `action` on `resource` with the global instance's
/// authorizer ([`TelemetryBuilder::authorizer`]); one audit record per call. Without one,
/// a [`NotConfigured`] error naming the missing call (never a silent deny).
///
/// ```
/// use tickwatch::NotConfigured;
/// // Nothing installed in this process.
/// let r = tickwatch::authorize_action("alice", "cancel", "orders/42");
/// assert_eq!(r.unwrap_err(), NotConfigured::NoInstance);
/// ```
#[inline]
pub fn authorize_action(
    user: &str,
    action: &str,
    resource: &str,
) -> Result<AuthzResult, NotConfigured> {
    let tw = global().ok_or(NotConfigured::NoInstance)?;
    match tw.authorizer() {
        Some(a) => Ok(a.authorize_action(user, action, resource)),
        None => {
            tw.audit(&Audit {
                actor: user,
                action,
                resource,
                outcome: "error",
                rule: "",
                detail: "no-authorizer-configured",
            });
            Err(NotConfigured::NoAuthorizer)
        }
    }
}

/// Encrypts `data` under key `key_id` of the global instance's key ring
/// ([`TelemetryBuilder::key_ring`]; [`KeyRing::encrypt_data_with`](crate::KeyRing::encrypt_data_with)).
/// Without a ring, [`CryptoError::NoKeyRing`].
pub fn encrypt_data(data: &[u8], key_id: &str) -> Result<EncryptedData, CryptoError> {
    global()
        .and_then(Telemetry::key_ring)
        .ok_or(CryptoError::NoKeyRing)?
        .encrypt_data_with(data, key_id)
}

/// Decrypts `data` with the global instance's key ring
/// ([`KeyRing::decrypt_data`](crate::KeyRing::decrypt_data)); the plaintext is zeroized when
/// dropped. Without a ring, [`CryptoError::NoKeyRing`].
pub fn decrypt_data(data: &EncryptedData) -> Result<Plaintext, CryptoError> {
    global()
        .and_then(Telemetry::key_ring)
        .ok_or(CryptoError::NoKeyRing)?
        .decrypt_data(data)
}
