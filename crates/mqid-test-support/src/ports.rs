//! Ports for the servers a test starts. Std only: `tests/common/mqtt.rs` (which the rmqtt
//! cluster suite, a workspace of its own, includes by path) includes this file by path too.
//!
//! Asking the kernel for a free port (`bind` to port 0, then release it) races with every other
//! socket the tests open: the port comes from the ephemeral range, the same range every client
//! connection's local port comes from, so between the release and the server's own `bind` a
//! client of a parallel test can take it ("Address already in use", seen in CI). These ports come
//! from below the ephemeral range instead (Linux: 32768 and up), from a cursor that no two calls
//! of one process share, and each is checked bindable before it is handed out.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// First and one-past-last port handed out (below Linux's default ephemeral range).
const LOW: u32 = 20_000;
const HIGH: u32 = 32_000;

/// A port nobody listens on right now, never handed out before by this process (until the
/// 12,000 ports of the range have all been).
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = HIGH - LOW;
    // Start where this process's id points, so that processes started together spread out.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {HIGH} on 127.0.0.1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_unique_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            ports.len(),
            "a port handed out twice: {ports:?}"
        );
        for p in ports {
            assert!((LOW as u16..HIGH as u16).contains(&p), "{p}");
        }
        // One held by someone else is skipped.
        let next = free_port();
        let held = TcpListener::bind(("127.0.0.1", next + 1));
        let after = free_port();
        if held.is_ok() {
            assert_ne!(after, next + 1);
        }
    }
}
