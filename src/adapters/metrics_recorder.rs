//! The `metrics` recorder (placeholder, being written).

use std::sync::Arc;

use crate::metrics::Aggregates;
use crate::pipeline::Shared;

/// A `metrics::Recorder` writing tickwatch series.
#[derive(Clone)]
pub struct MetricsRecorder {
    #[allow(dead_code)]
    shared: Arc<Shared>,
    #[allow(dead_code)]
    aggregates: Arc<Aggregates>,
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder").finish_non_exhaustive()
    }
}

impl MetricsRecorder {
    pub(crate) fn new(shared: Arc<Shared>, aggregates: Arc<Aggregates>) -> Self {
        Self { shared, aggregates }
    }
}
