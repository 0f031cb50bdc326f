//! Acknowledgements to the router, kept in the order the router expects.
//!
//! # Why
//!
//! rumqttd's router takes the acks of the messages it delivered (PUBACK, PUBREC) and of the
//! PUBRELs it sent (PUBCOMP) strictly in the order it sent them, and drops the connection on an
//! out-of-order ack. When the edge refuses a delivery (topic permissions) it must acknowledge it
//! to the router itself, but not before the client has acknowledged every earlier one. An
//! [`InOrder`] queue holds the expected packet ids in sending order; an ack (the client's or the
//! edge's) resolves its entry, and the resolved prefix is released.
//!
//! # Contract
//!
//! When nothing is refused, every client ack matches the head and is released at once, with
//! no allocation once the queue has grown to the connection's inflight window. An ack that
//! comes before an earlier one is held in a box until the earlier ones are known.

use std::collections::VecDeque;

use rumqttd::protocol::Packet;

/// Expected acks in the router's order.
#[derive(Default)]
pub(crate) struct InOrder {
    /// (packet id, the ack once it is known: only for acks that came before an earlier one)
    queue: VecDeque<(u16, Option<Box<Packet>>)>,
}

impl InOrder {
    /// The router sent something that will be acknowledged with `pkid`.
    pub(crate) fn expect(&mut self, pkid: u16) {
        self.queue.push_back((pkid, None));
    }

    /// `ack` for `pkid` (from the client or the edge). Appends what may go to the router now to
    /// `out`, in order. An ack for an id not expected goes through as it is.
    pub(crate) fn resolve(&mut self, pkid: u16, ack: Packet, out: &mut VecDeque<Packet>) {
        // The usual case: the ack the router waits for next.
        if matches!(self.queue.front(), Some((p, None)) if *p == pkid) {
            self.queue.pop_front();
            out.push_back(ack);
        } else {
            match self
                .queue
                .iter_mut()
                .find(|(p, a)| *p == pkid && a.is_none())
            {
                // Held until the acks before it are known (boxed: this is the rare case).
                Some(slot) => slot.1 = Some(Box::new(ack)),
                None => out.push_back(ack),
            }
            return;
        }
        while matches!(self.queue.front(), Some((_, Some(_)))) {
            if let Some((_, Some(ack))) = self.queue.pop_front() {
                out.push_back(*ack);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttd::protocol::{PubAck, PubAckReason};

    fn ack(pkid: u16) -> Packet {
        Packet::PubAck(
            PubAck {
                pkid,
                reason: PubAckReason::Success,
            },
            None,
        )
    }

    fn ids(out: &VecDeque<Packet>) -> Vec<u16> {
        out.iter()
            .map(|p| match p {
                Packet::PubAck(a, _) => a.pkid,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn acks_are_released_in_the_order_expected() {
        let mut q = InOrder::default();
        let mut out = VecDeque::new();
        q.expect(1);
        q.expect(2);
        q.expect(3);
        // the edge refuses 2 at once; the client acks 1 later, then 3
        q.resolve(2, ack(2), &mut out);
        assert!(out.is_empty());
        q.resolve(1, ack(1), &mut out);
        assert_eq!(ids(&out), [1, 2]);
        q.resolve(3, ack(3), &mut out);
        assert_eq!(ids(&out), [1, 2, 3]);
        // not expected: through as it is
        q.resolve(9, ack(9), &mut out);
        assert_eq!(ids(&out), [1, 2, 3, 9]);
    }
}
