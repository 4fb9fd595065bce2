//! Disaster recovery for what the sinks refuse: [`Spool`] keeps the batches a failing sink
//! refuses on disk, in the segment log's format, and replays them oldest first once the sink
//! accepts again. (Failover between two sinks is [`crate::sink::Failover`]; backups of a log
//! are [`crate::store::backup`]; durable keys are
//! [`KeyRingBuilder::persist`](crate::security::crypto::KeyRingBuilder::persist).)

mod spool;

pub use spool::{Spool, SpoolFull, SpoolHandle, SpoolOptions, SpoolStats};
