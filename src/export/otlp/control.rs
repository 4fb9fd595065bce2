//! [`OtlpControl`]: live reconfiguration of a running exporter. The new configuration is
//! handed to the exporter thread through a one-place slot (the newest wins) and a wake-up
//! message; the thread takes it before its next request and acknowledges.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::worker::Msg;
use super::{OtlpConfig, OtlpError};
use crate::export::OtlpSection;

/// A configuration handed over, and where to acknowledge it once in force.
pub(crate) struct Pending {
    pub(crate) config: OtlpConfig,
    pub(crate) ack: SyncSender<()>,
}

/// The configuration the exporter thread takes next: the newest wins, and a closed slot
/// (the thread has ended) takes none.
#[derive(Default)]
pub(crate) struct Slot {
    /// Set with `next`: one load per request when nothing is pending.
    pending: AtomicBool,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    next: Option<Pending>,
    closed: bool,
}

impl Slot {
    /// Hands `p` over (replacing one not taken yet); `false` (and `p` dropped) once the
    /// thread has ended.
    fn put(&self, p: Pending) -> bool {
        let mut s = self.state.lock();
        if s.closed {
            return false;
        }
        s.next = Some(p);
        self.pending.store(true, Release);
        true
    }

    /// The configuration to apply now, if one was handed over.
    pub(crate) fn take(&self) -> Option<Pending> {
        if !self.pending.load(Acquire) {
            return None;
        }
        let mut s = self.state.lock();
        self.pending.store(false, Relaxed);
        s.next.take()
    }

    /// The thread is ending: what is pending is dropped (its caller sees `Stopped`), and
    /// nothing more is taken.
    pub(crate) fn close(&self) {
        let mut s = self.state.lock();
        s.closed = true;
        s.next = None;
        self.pending.store(false, Relaxed);
    }
}

/// What is fixed when the exporter starts.
struct Fixed {
    queue_capacity: usize,
    placement: crate::ThreadPlacement,
}

struct Shared {
    tx: Sender<Msg>,
    slot: Arc<Slot>,
    fixed: Fixed,
    /// The newest configuration handed over (in force, or taken before the next request).
    latest: Mutex<OtlpConfig>,
    /// One reconfiguration at a time.
    serial: Mutex<()>,
}

/// A handle that changes a running [`OtlpExporter`](super::OtlpExporter)'s settings
/// without restarting it and without losing its queued log records
/// ([`OtlpExporter::control`](super::OtlpExporter::control)). Cheap to clone; it can outlive
/// the exporter (then every call returns [`OtlpError::Stopped`]).
///
/// Everything in [`OtlpConfig`] can change but `queue_capacity` (the sinks already handed out
/// hold it) and `placement` (the thread is already named and placed): a configuration that
/// changes either is refused with [`OtlpError::NotLive`], and changes nothing.
#[derive(Clone)]
pub struct OtlpControl {
    shared: Arc<Shared>,
}

impl fmt::Debug for OtlpControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the headers: they may hold an API key.
        let c = self.shared.latest.lock();
        f.debug_struct("OtlpControl")
            .field("metrics_url", &c.metrics_url)
            .field("logs_url", &c.logs_url)
            .finish_non_exhaustive()
    }
}

impl OtlpControl {
    pub(crate) fn new(tx: Sender<Msg>, slot: Arc<Slot>, config: &OtlpConfig) -> OtlpControl {
        OtlpControl {
            shared: Arc::new(Shared {
                tx,
                slot,
                fixed: Fixed {
                    queue_capacity: config.queue_capacity.max(1),
                    placement: config.placement.clone(),
                },
                latest: Mutex::new(config.clone()),
                serial: Mutex::new(()),
            }),
        }
    }

    /// The newest configuration's `flush_timeout`, for the exporter's own waits.
    pub(crate) fn flush_timeout(&self) -> Duration {
        self.shared.latest.lock().flush_timeout
    }

    /// Replaces the exporter's settings with `config`, live.
    ///
    /// `config` is checked as [`OtlpExporter::start`](super::OtlpExporter::start) checks
    /// it ([`OtlpError::Config`], [`OtlpError::Placement`]); a change to a setting fixed at
    /// start (`queue_capacity`, `placement`) is refused ([`OtlpError::NotLive`]). Otherwise
    /// the exporter thread uses it from its next request on: the endpoint URLs, headers,
    /// timeout, protocol, compression, resource (`service_name`, `resource_attributes`),
    /// retry settings, batch size and `flush_timeout`; the metrics interval's next export
    /// is `metrics_interval` from the moment it is applied (and the logs' next export no
    /// later than `logs_interval` from then). Log records already queued are not lost:
    /// every record not yet in a request is sent with the new settings.
    ///
    /// A request in flight, or waiting in retry backoff, finishes under the old settings
    /// (its retries included): the new ones are applied when it is done. Returns once the
    /// thread has applied them, waiting at most `config.flush_timeout`;
    /// [`OtlpError::Timeout`] means the thread was still in such a request: the settings
    /// stay handed over and apply when it ends (unless another `reconfigure` replaces them
    /// first). [`OtlpError::Stopped`] if the exporter has ended. Calls from several threads
    /// take turns: each waits for the one before it to return.
    pub fn reconfigure(&self, config: OtlpConfig) -> Result<(), OtlpError> {
        let _one_at_a_time = self.shared.serial.lock();
        self.hand_over(config)
    }

    /// As [`reconfigure`](Self::reconfigure), with a configuration file's `[otlp]` section
    /// under the `OTEL_*` environment variables, variable by variable, as
    /// [`OtlpConfig::from_section_and_env`] (and
    /// [`OtlpExporter::from_section_and_env`](super::OtlpExporter::from_section_and_env))
    /// combine them. Settings neither describes keep their running values (a `placement`
    /// or `queue_capacity` set in code is not undone by a file that cannot say them).
    ///
    /// A section without `endpoint` (and no `OTEL_EXPORTER_OTLP_*ENDPOINT` variable) is
    /// refused with [`OtlpError::NotLive`]: turning export off is shutting the exporter
    /// down ([`OtlpExporter::shutdown`](super::OtlpExporter::shutdown)).
    pub fn reconfigure_from_section(&self, section: &OtlpSection) -> Result<(), OtlpError> {
        self.reconfigure_from_section_with(section, |k| std::env::var(k).ok())
    }

    /// [`reconfigure_from_section`](Self::reconfigure_from_section), reading the variables
    /// through `lookup`.
    pub(crate) fn reconfigure_from_section_with(
        &self,
        section: &OtlpSection,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), OtlpError> {
        let _one_at_a_time = self.shared.serial.lock();
        let running = self.shared.latest.lock().clone();
        match OtlpConfig::layered(Some(&running), Some(section), lookup)? {
            Some(config) => self.hand_over(config),
            None => Err(no_endpoint()),
        }
    }

    /// The configuration [`reconfigure_from_section`](Self::reconfigure_from_section)
    /// would apply, checked but not handed over: a live reload prepares every part before
    /// changing any.
    pub(crate) fn prepare_section(&self, section: &OtlpSection) -> Result<OtlpConfig, OtlpError> {
        let running = self.shared.latest.lock().clone();
        let config = OtlpConfig::layered(Some(&running), Some(section), |k| std::env::var(k).ok())?
            .ok_or_else(no_endpoint)?;
        self.check(&config)?;
        Ok(config)
    }

    /// Hands over a configuration [`prepare_section`](Self::prepare_section) returned.
    pub(crate) fn apply(&self, config: OtlpConfig) -> Result<(), OtlpError> {
        let _one_at_a_time = self.shared.serial.lock();
        self.hand_over(config)
    }

    /// What `hand_over` refuses: an invalid configuration, or a change to a setting fixed
    /// at start.
    fn check(&self, config: &OtlpConfig) -> Result<(), OtlpError> {
        config.validate()?;
        config.placement.validate().map_err(OtlpError::Placement)?;
        let fixed = &self.shared.fixed;
        if config.queue_capacity.max(1) != fixed.queue_capacity {
            return Err(OtlpError::NotLive {
                setting: "queue_capacity",
                detail: format!(
                    "fixed when the exporter starts (running {}, asked {}): restart the \
                     exporter to change it",
                    fixed.queue_capacity, config.queue_capacity
                ),
            });
        }
        if config.placement != fixed.placement {
            return Err(OtlpError::NotLive {
                setting: "placement",
                detail: "fixed when the exporter starts (its thread is already named and \
                         placed): restart the exporter to change it"
                    .into(),
            });
        }
        Ok(())
    }

    /// Checks `config`, hands it to the thread and waits for it to be in force. Callers
    /// hold `serial`.
    fn hand_over(&self, config: OtlpConfig) -> Result<(), OtlpError> {
        self.check(&config)?;
        let wait = config.flush_timeout;
        let (ack_tx, ack) = mpsc::sync_channel(1);
        let pending = Pending {
            config: config.clone(),
            ack: ack_tx,
        };
        if !self.shared.slot.put(pending) {
            return Err(OtlpError::Stopped);
        }
        *self.shared.latest.lock() = config;
        if self.shared.tx.send(Msg::Reconfigure).is_err() {
            return Err(OtlpError::Stopped);
        }
        match ack.recv_timeout(wait) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(OtlpError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(OtlpError::Stopped),
        }
    }
}

/// A reloaded section without an endpoint: export cannot be turned off live.
fn no_endpoint() -> OtlpError {
    OtlpError::NotLive {
        setting: "endpoint",
        detail: "the [otlp] section sets none (nor does an OTEL_EXPORTER_OTLP_*ENDPOINT \
                 variable): turning OTLP export off needs the exporter to be shut down \
                 (OtlpExporter::shutdown)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::otlp::OtlpExporter;

    fn pending(url: &str) -> (Pending, mpsc::Receiver<()>) {
        let (ack, rx) = mpsc::sync_channel(1);
        let p = Pending {
            config: OtlpConfig::new(url),
            ack,
        };
        (p, rx)
    }

    #[test]
    fn the_slot_keeps_the_newest_until_closed() {
        let slot = Slot::default();
        assert!(slot.take().is_none());
        let (a, a_ack) = pending("http://a:1");
        let (b, _b_ack) = pending("http://b:1");
        assert!(slot.put(a));
        assert!(slot.put(b));
        // `a` was replaced: its caller's wait ends.
        assert_eq!(a_ack.recv(), Err(mpsc::RecvError));
        let got = slot.take().unwrap();
        assert_eq!(got.config.logs_url, "http://b:1/v1/logs");
        assert!(slot.take().is_none());
        let (c, c_ack) = pending("http://c:1");
        assert!(slot.put(c));
        slot.close();
        assert_eq!(c_ack.recv(), Err(mpsc::RecvError));
        assert!(slot.take().is_none());
        assert!(!slot.put(pending("http://d:1").0));
    }

    #[test]
    fn a_control_is_a_shareable_handle() {
        fn shareable<T: Send + Sync + Clone + fmt::Debug + 'static>() {}
        shareable::<OtlpControl>();
    }

    /// An exporter with nothing to export: it never connects, so any URL will do.
    fn idle(queue_capacity: usize) -> (OtlpExporter, OtlpConfig) {
        let mut c = OtlpConfig::new("http://127.0.0.1:9");
        c.metrics_interval = Duration::from_secs(3600);
        c.queue_capacity = queue_capacity;
        c.headers = vec![("x-api-key".into(), "secret".into())];
        (OtlpExporter::start(c.clone()).unwrap(), c)
    }

    #[test]
    fn refused_changes_name_the_setting_and_change_nothing() {
        let (otlp, c) = idle(16);
        let control = otlp.control();
        let refused = |config: OtlpConfig, setting: &str| match control.reconfigure(config) {
            Err(OtlpError::NotLive { setting: s, detail }) => {
                assert_eq!(s, setting);
                assert!(
                    detail.contains("restart the exporter to change it"),
                    "{detail}"
                );
            }
            other => panic!("{setting}: {other:?}"),
        };
        refused(
            OtlpConfig {
                queue_capacity: 17,
                ..c.clone()
            },
            "queue_capacity",
        );
        let placement = crate::ThreadPlacement::new().name("elsewhere");
        refused(
            OtlpConfig {
                placement,
                ..c.clone()
            },
            "placement",
        );
        let bad = OtlpConfig::new("ftp://secure:4318");
        assert!(matches!(
            control.reconfigure(bad),
            Err(OtlpError::Config(_))
        ));
        // A section that turns export off.
        let e = control
            .reconfigure_from_section_with(&OtlpSection::default(), |_| None)
            .unwrap_err();
        assert!(
            matches!(
                e,
                OtlpError::NotLive {
                    setting: "endpoint",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("shut down"), "{e}");
        // Nothing changed; the handle's Debug shows the endpoints, never the headers.
        let shown = format!("{control:?}");
        assert!(shown.contains("http://127.0.0.1:9/v1/logs"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        // The same fixed values are no change.
        let mut same = c.clone();
        same.queue_capacity = 16;
        same.metrics_url = "http://127.0.0.1:10/m".into();
        control.reconfigure(same).unwrap();
        assert!(format!("{control:?}").contains("http://127.0.0.1:10/m"));
        drop(otlp);
        assert!(matches!(control.reconfigure(c), Err(OtlpError::Stopped)));
    }

    #[test]
    fn a_section_keeps_what_it_cannot_say() {
        let (otlp, _) = idle(0);
        let control = otlp.control();
        let section: OtlpSection =
            toml::from_str("endpoint = \"http://127.0.0.1:11\"\ninterval = \"2s\"").unwrap();
        control
            .reconfigure_from_section_with(&section, |_| None)
            .unwrap();
        let latest = control.shared.latest.lock().clone();
        assert_eq!(latest.logs_url, "http://127.0.0.1:11/v1/logs");
        assert_eq!(latest.metrics_interval, Duration::from_secs(2));
        // The queue is not a section key: kept as started. The headers are one: the
        // section's (none) replace the running ones.
        assert_eq!(latest.queue_capacity, 0);
        assert!(latest.headers.is_empty());
        // A queue of 0 is one of 1: no change.
        control
            .reconfigure(OtlpConfig {
                queue_capacity: 1,
                ..latest.clone()
            })
            .unwrap();
        assert_eq!(control.flush_timeout(), latest.flush_timeout);
        // A variable that changes a fixed setting is refused like any such change.
        let e = control
            .reconfigure_from_section_with(&section, |k| {
                (k == "OTEL_BLRP_MAX_QUEUE_SIZE").then(|| "9".to_owned())
            })
            .unwrap_err();
        assert!(
            matches!(
                e,
                OtlpError::NotLive {
                    setting: "queue_capacity",
                    ..
                }
            ),
            "{e:?}"
        );
        otlp.shutdown().unwrap();
    }
}
