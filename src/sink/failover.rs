//! [`Failover`]: a sink that writes to a primary and, while the primary fails, to a
//! secondary.

use std::time::{Duration, Instant};

use super::{Batch, Sink, SinkError, SinkNotice};

/// Sends every batch to `primary`; when the primary refuses one (returns an error), sends that
/// batch to `secondary` and keeps writing there, offering the primary one batch again after a
/// backoff (doubling from `retry_after`'s first value to its second while the primary keeps
/// failing). The first batch the primary takes switches back; the secondary is flushed then,
/// so what it holds reaches its destination.
///
/// Every switch is reported through [`Sink::take_notice`]: the failover's health component
/// (`tickwatch.sink.failover`) reads `Degraded` while on the secondary, and the
/// `tickwatch_sink_condition` alert fires while it lasts and resolves on the switch back.
///
/// No record is lost while one of the two accepts it, and none goes to both except the batch
/// the primary failed on (which it may have taken in part): delivery is at least once. A batch
/// both refuse is an error, counted in `Stats::sink_errors` as any sink's.
///
/// ```
/// use tickwatch::sink::{Failover, JsonLinesSink, MemorySink};
/// let primary = JsonLinesSink::new(std::io::sink());
/// let fallback = MemorySink::new();
/// let tw = tickwatch::Telemetry::builder()
///     .sink(Failover::new(primary, fallback.clone()))
///     .start()?;
/// tw.log_metric("spread", 0.5, &[]);
/// tw.flush()?;
/// assert!(fallback.is_empty(), "the primary took it");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Failover<P, S> {
    primary: P,
    secondary: S,
    min_backoff: Duration,
    max_backoff: Duration,
    /// `Some` while on the secondary: when to offer the primary a batch again, and the
    /// backoff that set it.
    failed: Option<(Instant, Duration)>,
    switches: u64,
    notice: Option<SinkNotice>,
}

impl<P: Sink, S: Sink> Failover<P, S> {
    /// A failover from `primary` to `secondary`, retrying the primary after 100 ms, then
    /// 200 ms, and so on up to 5 s between tries.
    pub fn new(primary: P, secondary: S) -> Self {
        Failover {
            primary,
            secondary,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            failed: None,
            switches: 0,
            notice: None,
        }
    }

    /// The first and the longest wait before offering a failed primary a batch again
    /// (`first` is raised to at least 1 ms; `max` to at least `first`).
    #[must_use]
    pub fn retry_after(mut self, first: Duration, max: Duration) -> Self {
        self.min_backoff = first.max(Duration::from_millis(1));
        self.max_backoff = max.max(self.min_backoff);
        self
    }

    /// Whether batches go to the secondary now.
    pub fn on_secondary(&self) -> bool {
        self.failed.is_some()
    }

    /// Switches so far, both ways.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    fn switch_to_secondary(&mut self, why: &SinkError, now: Instant) {
        self.failed = Some((now + self.min_backoff, self.min_backoff));
        self.switches += 1;
        self.notice = Some(SinkNotice {
            degraded: true,
            message: format!(
                "primary sink {:?} failed ({why}); writing to secondary {:?}, retrying the primary with backoff",
                self.primary.name(),
                self.secondary.name()
            ),
        });
    }

    fn switch_to_primary(&mut self) -> Result<(), SinkError> {
        self.failed = None;
        self.switches += 1;
        self.notice = Some(SinkNotice {
            degraded: false,
            message: format!("primary sink {:?} is back", self.primary.name()),
        });
        self.secondary.flush()
    }
}

impl<P: Sink, S: Sink> Sink for Failover<P, S> {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        match self.failed {
            None => match self.primary.write(batch) {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.switch_to_secondary(&e, Instant::now());
                    self.secondary.write(batch)
                }
            },
            Some((retry_at, backoff)) => {
                let now = Instant::now();
                if now < retry_at {
                    return self.secondary.write(batch);
                }
                match self.primary.write(batch) {
                    // The secondary's flush error (if any) is counted; the batch is safe.
                    Ok(()) => self.switch_to_primary(),
                    Err(_) => {
                        let next = (backoff * 2).min(self.max_backoff);
                        self.failed = Some((now + next, next));
                        self.secondary.write(batch)
                    }
                }
            }
        }
    }

    fn end_pass(&mut self) -> Result<(), SinkError> {
        if self.failed.is_some() {
            self.secondary.end_pass()
        } else {
            self.primary.end_pass()
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.failed.is_some() {
            return self.secondary.flush();
        }
        match self.primary.flush() {
            Ok(()) => Ok(()),
            Err(e) => {
                // What the primary holds may be lost with it: the error is counted; later
                // batches go to the secondary.
                self.switch_to_secondary(&e, Instant::now());
                Err(e)
            }
        }
    }

    fn name(&self) -> &str {
        "failover"
    }

    /// Replayed records (a [`crate::recovery::Spool`] over this failover) go where batches
    /// go, with the same switching.
    fn write_records(
        &mut self,
        records: &[super::Record],
        replay: super::Replay,
    ) -> Result<(), SinkError> {
        match self.failed {
            Some((retry_at, _)) if Instant::now() < retry_at => {
                self.secondary.write_records(records, replay)
            }
            Some((_, backoff)) => match self.primary.write_records(records, replay) {
                Ok(()) => self.switch_to_primary(),
                Err(_) => {
                    let next = (backoff * 2).min(self.max_backoff);
                    self.failed = Some((Instant::now() + next, next));
                    self.secondary.write_records(records, replay)
                }
            },
            None => match self.primary.write_records(records, replay) {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.switch_to_secondary(&e, Instant::now());
                    self.secondary.write_records(records, replay)
                }
            },
        }
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        let primary = self.primary.tick();
        let secondary = self.secondary.tick();
        primary.and(secondary)
    }

    fn take_notice(&mut self) -> Option<SinkNotice> {
        self.notice.take()
    }
}
