//! The `tracing` peer of the event benchmarks (`#[path]`-included by each): `tracing::info!`
//! through `tracing_subscriber::fmt` writing to `tracing_appender::non_blocking(io::sink())`,
//! the usual way to log from a latency-sensitive thread with `tracing`.

/// The thread's default subscriber while it lives; dropping it unsets the subscriber, then
/// flushes and joins the writer thread (fields drop in this order).
pub struct FmtNonBlocking {
    _default: tracing::subscriber::DefaultGuard,
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

/// Sets the peer as this thread's default subscriber: `lossy` is `non_blocking`'s default
/// (lines dropped when its 128,000-line channel is full), else the caller waits.
pub fn fmt_non_blocking(lossy: bool) -> FmtNonBlocking {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(lossy)
        .finish(std::io::sink());
    let subscriber = tracing_subscriber::fmt().with_writer(writer).finish();
    FmtNonBlocking {
        _default: tracing::subscriber::set_default(subscriber),
        _writer: guard,
    }
}
