//! The stale gate: one flag, set by whoever watches the source's freshness, read per CONNECT.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Whether CONNECTs are refused because the index in force is too old (the `refuse` staleness
/// policy). Reading it is one relaxed atomic load: it never blocks and never allocates.
#[derive(Debug, Default)]
pub struct StaleGate {
    refusing: AtomicBool,
}

impl StaleGate {
    /// A gate that lets CONNECTs through.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether CONNECTs are refused (`stale`) right now.
    pub fn is_refusing(&self) -> bool {
        self.refusing.load(Relaxed)
    }

    /// Opens (`false`) or closes (`true`) the gate; returns what it was.
    pub fn set_refusing(&self, refusing: bool) -> bool {
        self.refusing.swap(refusing, Relaxed)
    }
}
