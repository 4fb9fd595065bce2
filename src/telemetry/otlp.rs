//! The OTLP exporter a configuration's `[otlp]` section asks for (feature `otlp`): started
//! with the instance, fed its events and metrics, reconfigured by a reload, and stopped
//! after the collector's last drain so the final export holds every record.

use parking_lot::Mutex;

use super::{StartError, Telemetry};
use crate::export::otlp::{OtlpControl, OtlpExporter, OtlpStats};
use crate::export::OtlpSection;

/// The instance's own exporter, kept (stopped) after shutdown so its counters stay readable.
#[derive(Debug, Default)]
pub(crate) struct OwnedOtlp(Mutex<Option<OtlpExporter>>);

impl OwnedOtlp {
    /// The exporter `section` asks for (with the `OTEL_*` variables over it), or `None` when
    /// it sets no endpoint. The variables alone never start one: the file asks for export.
    pub(crate) fn start(section: &OtlpSection) -> Result<Option<OtlpExporter>, StartError> {
        if section.endpoint.is_none() {
            return Ok(None);
        }
        OtlpExporter::from_section_and_env(section).map_err(|e| StartError::Section {
            key: "otlp",
            message: e.to_string(),
        })
    }

    pub(crate) fn set(&self, exporter: OtlpExporter) {
        *self.0.lock() = Some(exporter);
    }

    /// Exports what is queued and the metrics a last time and stops the thread (waiting at
    /// most its `flush_timeout`); what it could not deliver is in its counters.
    pub(crate) fn stop(&self) {
        if let Some(x) = self.0.lock().as_mut() {
            let _ = x.stop();
        }
    }
}

impl Telemetry {
    /// The counters of the OTLP exporter the configuration's `[otlp]` section started
    /// (live, or final after [`shutdown`](Self::shutdown)), or `None` without one.
    pub fn otlp_stats(&self) -> Option<OtlpStats> {
        self.otlp.0.lock().as_ref().map(OtlpExporter::stats)
    }

    /// A handle on that exporter's settings ([`OtlpControl`]); a [`reload`](Self::reload)
    /// of a changed `[otlp]` section goes through it.
    pub fn otlp_control(&self) -> Option<OtlpControl> {
        self.otlp.0.lock().as_ref().map(OtlpExporter::control)
    }
}
