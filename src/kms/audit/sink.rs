//! Where audit lines go besides the chained file.

/// Where audit lines go besides the chained file.
pub trait Sink: Send {
    /// A short name for logs ("syslog", "hook").
    fn name(&self) -> &'static str;
    /// Delivers `lines` (one or more complete JSON lines, each ending in '\n'). Ok only when
    /// every line was accepted; on Err the caller keeps the lines and calls again later with the
    /// same lines (so a sink must tolerate re-delivery of a batch it partly accepted).
    fn deliver(&mut self, lines: &[u8]) -> std::io::Result<()>;
    /// Releases what the sink holds. Called once by the writer when it stops.
    fn close(&mut self, grace: std::time::Duration);
}
