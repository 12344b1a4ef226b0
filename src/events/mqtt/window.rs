//! The publisher's window: the events handed to the MQTT client, in id order, and which of
//! them the broker has acknowledged. The client gives each QoS 1 publish a packet id as it
//! sends it, in the order publishes were handed over, so [`Window::sent`] pairs each packet
//! id with the oldest handed event still without one; [`Window::acked`] marks a PUBACK's
//! event; [`Window::acked_to`] is the id up to which every event was acknowledged, which is
//! what the cursor may record. Anything unexpected is an error: the publisher then drops the
//! connection and publishes again from `acked_to` (at least once).

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("the client sent packet {0} with no event waiting for one")]
    UnexpectedSend(u16),
    #[error("the broker acknowledged packet {0}, which carries no event in flight")]
    UnexpectedAck(u16),
}

#[derive(Debug)]
struct Entry {
    id: i64,
    acked: bool,
}

#[derive(Debug)]
pub struct Window {
    /// Handed over and not yet acknowledged with all before them, in id order.
    entries: VecDeque<Entry>,
    /// `entries[..sent]` have a packet id.
    sent: usize,
    packets: HashMap<u16, i64>,
    acked_to: i64,
}

impl Window {
    /// An empty window after `acked_to`, the last event id known to be published.
    pub fn new(acked_to: i64) -> Window {
        Window {
            entries: VecDeque::new(),
            sent: 0,
            packets: HashMap::new(),
            acked_to,
        }
    }

    /// Events handed over and not yet acknowledged in order.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every event up to this id was acknowledged.
    pub fn acked_to(&self) -> i64 {
        self.acked_to
    }

    /// The last event handed over: the next read starts after it.
    pub fn handed_to(&self) -> i64 {
        self.entries.back().map_or(self.acked_to, |e| e.id)
    }

    /// Event `id` was handed to the client. Ids must grow (gaps are allowed: events expired
    /// before they could be published).
    pub fn handed(&mut self, id: i64) {
        assert!(id > self.handed_to(), "events are handed over in id order");
        self.entries.push_back(Entry { id, acked: false });
    }

    /// The client sent packet `pkid`: it carries the oldest handed event without a packet.
    pub fn sent(&mut self, pkid: u16) -> Result<(), WindowError> {
        let entry = self
            .entries
            .get(self.sent)
            .ok_or(WindowError::UnexpectedSend(pkid))?;
        if self.packets.insert(pkid, entry.id).is_some() {
            return Err(WindowError::UnexpectedSend(pkid));
        }
        self.sent += 1;
        Ok(())
    }

    /// The broker acknowledged packet `pkid`.
    pub fn acked(&mut self, pkid: u16) -> Result<(), WindowError> {
        let id = self
            .packets
            .remove(&pkid)
            .ok_or(WindowError::UnexpectedAck(pkid))?;
        let at = self
            .entries
            .binary_search_by_key(&id, |e| e.id)
            .expect("an event with a packet is in the window");
        self.entries[at].acked = true;
        while self.entries.front().is_some_and(|e| e.acked) {
            let e = self.entries.pop_front().expect("just seen");
            self.acked_to = e.id;
            self.sent -= 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn acknowledgements_out_of_order_advance_only_the_acknowledged_prefix() {
        let mut w = Window::new(10);
        for id in 11..=14 {
            w.handed(id);
        }
        for pkid in 1..=4 {
            w.sent(pkid).unwrap();
        }
        w.acked(2).unwrap();
        w.acked(4).unwrap();
        assert_eq!(w.acked_to(), 10, "11 is not acknowledged yet");
        w.acked(1).unwrap();
        assert_eq!(w.acked_to(), 12);
        w.acked(3).unwrap();
        assert_eq!(w.acked_to(), 14);
        assert!(w.is_empty());
        assert_eq!(w.handed_to(), 14);
    }

    #[test]
    fn packet_ids_are_reused_once_acknowledged() {
        let mut w = Window::new(0);
        w.handed(1);
        w.sent(7).unwrap();
        w.acked(7).unwrap();
        w.handed(2);
        w.sent(7).unwrap();
        w.acked(7).unwrap();
        assert_eq!(w.acked_to(), 2);
    }

    #[test]
    fn a_gap_left_by_expired_events_is_passed_over() {
        let mut w = Window::new(3);
        w.handed(40);
        w.sent(1).unwrap();
        assert_eq!(w.handed_to(), 40);
        w.acked(1).unwrap();
        assert_eq!(w.acked_to(), 40);
    }

    #[test]
    fn surprises_are_errors_not_guesses() {
        let mut w = Window::new(0);
        assert_eq!(w.sent(1), Err(WindowError::UnexpectedSend(1)));
        assert_eq!(w.acked(1), Err(WindowError::UnexpectedAck(1)));
        w.handed(1);
        w.handed(2);
        w.sent(5).unwrap();
        assert_eq!(
            w.sent(5),
            Err(WindowError::UnexpectedSend(5)),
            "5 is in flight"
        );
        w.acked(5).unwrap();
        assert_eq!(
            w.acked(5),
            Err(WindowError::UnexpectedAck(5)),
            "acked twice"
        );
    }

    proptest! {
        /// Whatever order the broker acknowledges in, `acked_to` is exactly the longest
        /// acknowledged prefix (the reference: a set of acknowledged ids).
        #[test]
        fn acked_to_is_the_longest_acknowledged_prefix(
            n in 1usize..60,
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 60),
        ) {
            let mut w = Window::new(0);
            for id in 1..=n as i64 {
                w.handed(id);
                w.sent(id as u16).unwrap();
            }
            let mut left: Vec<u16> = (1..=n as u16).collect();
            let mut acked = std::collections::BTreeSet::new();
            for pick in order.iter().take(n) {
                let pkid = left.remove(pick.index(left.len()));
                w.acked(pkid).unwrap();
                acked.insert(i64::from(pkid));
                let prefix = (1..).take_while(|id| acked.contains(id)).last().unwrap_or(0);
                prop_assert_eq!(w.acked_to(), prefix);
            }
            prop_assert!(w.is_empty());
        }
    }
}
