//! What a connection publishes again after it failed, and at what pace, around two faults of
//! rumqttc 0.25 that lose QoS 1 publishes the broker never acknowledged.
//!
//! 1. **Packet-id collisions overwrite each other.** When a connection fails, rumqttc moves
//!    the publishes in flight (each with its packet id) and the requests still in the client's
//!    channel (without one) to `EventLoop::pending`, and after the reconnect sends everything
//!    in `pending` at once, bypassing its in-flight limit. The requests without an id then take
//!    ids still held by the resent publishes, and each such collision replaces the previous one
//!    in `MqttState::collision`, which holds a single publish: the replaced ones are never sent
//!    and never acknowledged. With a slow broker (nats-server working off a backlog after a
//!    JetStream leader election) a whole channel's worth was lost per failure.
//! 2. **A lost session drops what was unacknowledged.** When the CONNACK says
//!    `session_present = 0`, rumqttc clears `pending` (and keeps a stale `collision`).
//!
//! So after a failure [`Resend::failed`] takes the publishes without a packet id and the
//! collided one out of rumqttc into a queue of its own, leaving in `pending` only what rumqttc
//! resends with its own ids, which cannot collide; [`Resend::reconnected`] adds, when the
//! session was lost, everything that was unacknowledged; and [`Resend::feed`] hands the queue
//! back one publish at a time, only while rumqttc has room in flight and no collision, as its
//! own flow control would.

use std::collections::VecDeque;

use rumqttc::{EventLoop, Publish, QoS, Request};

#[derive(Default)]
pub(crate) struct Resend {
    /// Publishes to send again as new ones (rumqttc gives them fresh packet ids), oldest first.
    parked: VecDeque<Publish>,
    /// The publishes rumqttc resends with their ids if the broker kept the session.
    with_ids: Vec<Publish>,
}

impl Resend {
    /// After `EventLoop::poll` failed: rumqttc has moved what is unacknowledged to `pending`.
    /// Safe to call again after each failed reconnect attempt.
    pub(crate) fn failed(&mut self, eventloop: &mut EventLoop) {
        if let Some(collided) = eventloop.state.collision.take() {
            self.parked.push_back(fresh(collided));
        }
        let mut kept = VecDeque::with_capacity(eventloop.pending.len());
        for request in eventloop.pending.drain(..) {
            match request {
                Request::Publish(p) if p.qos != QoS::AtMostOnce && p.pkid == 0 => {
                    self.parked.push_back(p)
                }
                other => kept.push_back(other),
            }
        }
        eventloop.pending = kept;
        self.with_ids = eventloop
            .pending
            .iter()
            .filter_map(|r| match r {
                Request::Publish(p) if p.qos != QoS::AtMostOnce => Some(p.clone()),
                _ => None,
            })
            .collect();
    }

    /// With a reconnect's CONNACK. If the broker kept no session, rumqttc has dropped the
    /// publishes it would have resent: they are queued again, ahead of the rest. Returns how
    /// many.
    pub(crate) fn reconnected(&mut self, session_present: bool) -> usize {
        let lost = std::mem::take(&mut self.with_ids);
        if session_present {
            return 0;
        }
        let n = lost.len();
        for p in lost.into_iter().rev() {
            self.parked.push_front(fresh(p));
        }
        n
    }

    /// Hands rumqttc the oldest queued publish if it can take it without a collision piling
    /// up: nothing else pending, no collision waiting, fewer than `window` in flight. Called
    /// after every event, so the queue drains as acknowledgements free room.
    pub(crate) fn feed(&mut self, eventloop: &mut EventLoop, window: u16) {
        if eventloop.pending.is_empty()
            && eventloop.state.collision.is_none()
            && eventloop.state.inflight() < window
        {
            if let Some(p) = self.parked.pop_front() {
                eventloop.pending.push_back(Request::Publish(p));
            }
        }
    }

    /// Publishes queued here, not yet handed back.
    pub(crate) fn queued(&self) -> usize {
        self.parked.len()
    }
}

/// A publish to be sent as a new one: rumqttc assigns it the next packet id.
fn fresh(mut p: Publish) -> Publish {
    p.pkid = 0;
    p.dup = false;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::MqttOptions;

    fn publish(topic: &str, qos: QoS, pkid: u16) -> Publish {
        let mut p = Publish::new(topic, qos, topic.as_bytes().to_vec());
        p.pkid = pkid;
        p.dup = pkid != 0;
        p
    }

    fn eventloop(window: u16) -> EventLoop {
        let mut o = MqttOptions::new("t", "127.0.0.1", 1);
        o.set_inflight(window);
        EventLoop::new(o, 8)
    }

    fn topics(pending: &VecDeque<Request>) -> Vec<(String, u16)> {
        pending
            .iter()
            .map(|r| match r {
                Request::Publish(p) => (p.topic.clone(), p.pkid),
                other => (format!("{other:?}"), 0),
            })
            .collect()
    }

    /// What rumqttc's `clean()` leaves after a failure with two publishes in flight, a ping
    /// and two queued requests, one of them QoS 0, while a third publish waits on a collision.
    fn failed_with_collision() -> (EventLoop, Resend) {
        let mut el = eventloop(4);
        el.pending = [
            Request::Publish(publish("a", QoS::AtLeastOnce, 3)),
            Request::Publish(publish("b", QoS::AtLeastOnce, 4)),
            Request::PingReq(rumqttc::PingReq),
            Request::Publish(publish("c", QoS::AtLeastOnce, 0)),
            Request::Publish(publish("q0", QoS::AtMostOnce, 0)),
        ]
        .into();
        el.state.collision = Some(publish("x", QoS::AtLeastOnce, 3));
        let mut r = Resend::default();
        r.failed(&mut el);
        (el, r)
    }

    #[test]
    fn a_failure_leaves_rumqttc_only_what_it_resends_with_its_own_ids() {
        let (el, r) = failed_with_collision();
        assert_eq!(
            topics(&el.pending),
            [
                ("a".into(), 3),
                ("b".into(), 4),
                ("PingReq(PingReq)".into(), 0),
                ("q0".into(), 0)
            ]
        );
        assert!(
            el.state.collision.is_none(),
            "the collided publish is taken out"
        );
        assert_eq!(r.queued(), 2, "x and c");
    }

    #[test]
    fn failing_again_before_a_connack_parks_nothing_twice() {
        let (mut el, mut r) = failed_with_collision();
        r.failed(&mut el);
        assert_eq!(r.queued(), 2);
        assert_eq!(r.with_ids.len(), 2);
    }

    #[test]
    fn a_kept_session_leaves_the_resending_with_ids_to_rumqttc() {
        let (_, mut r) = failed_with_collision();
        assert_eq!(r.reconnected(true), 0);
        assert_eq!(r.queued(), 2);
        assert!(r.with_ids.is_empty());
    }

    #[test]
    fn a_lost_session_queues_what_was_in_flight_first_as_new_publishes() {
        let (_, mut r) = failed_with_collision();
        assert_eq!(r.reconnected(false), 2);
        let queued: Vec<_> = r
            .parked
            .iter()
            .map(|p| (p.topic.as_str(), p.pkid, p.dup, &p.payload[..]))
            .collect();
        assert_eq!(
            queued,
            [
                ("a", 0, false, &b"a"[..]),
                ("b", 0, false, &b"b"[..]),
                ("x", 0, false, &b"x"[..]),
                ("c", 0, false, &b"c"[..]),
            ]
        );
        assert_eq!(r.reconnected(false), 0, "counted once");
    }

    #[test]
    fn feeding_hands_back_one_publish_only_when_rumqttc_has_room() {
        let (mut el, mut r) = failed_with_collision();
        r.reconnected(true);
        r.feed(&mut el, 4);
        assert_eq!(el.pending.len(), 4, "nothing while rumqttc still resends");
        el.pending.clear();
        // Four in flight fill the window of 4.
        for pkid in 1..=4 {
            el.state
                .handle_outgoing_packet(Request::Publish(publish("f", QoS::AtLeastOnce, pkid)))
                .unwrap();
        }
        r.feed(&mut el, 4);
        assert!(el.pending.is_empty(), "a full window takes nothing");
        r.feed(&mut el, 5);
        assert_eq!(topics(&el.pending), [("x".into(), 0)], "one at a time");
        r.feed(&mut el, 5);
        assert_eq!(el.pending.len(), 1, "not while one is pending");
        // Sent, it collides with packet id 1: nothing more until that is resolved.
        let next = el.pending.pop_front().unwrap();
        el.state.handle_outgoing_packet(next).unwrap();
        assert!(el.state.collision.is_some());
        r.feed(&mut el, 8);
        assert!(el.pending.is_empty(), "not during a collision");
        assert_eq!(r.queued(), 1);
    }
}
