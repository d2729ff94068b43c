//! Observations the device serves (RFC 7641, device side) as a sans-IO table: who observes
//! what, the notification sequence number, and when the next notification is due.
//!
//! Notifications are periodic: every `pmax` of the observed path (from Write-Attributes) or
//! the profile's default period. Every tenth notification is confirmable so that a vanished
//! observer is noticed (RFC 7641 §4.5); the others are non-confirmable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, Packet};
use tokio::time::Instant;

/// The most observations one device serves; further Observe registrations get a plain
/// response (RFC 7641 §4.1 allows ignoring the option).
pub const MAX_OBSERVATIONS: usize = 32;

/// Every n-th notification is sent confirmable.
pub const CONFIRMABLE_EVERY: u32 = 10;

/// Observe option values are 24-bit (RFC 7641 §4.4).
const SEQUENCE_MASK: u32 = 0x00ff_ffff;

/// What an Observe option in a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveRequest {
    /// No Observe option: a plain read.
    None,
    /// Observe 0: register.
    Register,
    /// Observe 1: deregister.
    Deregister,
}

/// Reads the Observe option of a request.
pub fn observe_request(packet: &Packet) -> ObserveRequest {
    match packet.get_first_option(CoapOption::Observe) {
        None => ObserveRequest::None,
        Some(value) => match value.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) {
            0 => ObserveRequest::Register,
            1 => ObserveRequest::Deregister,
            _ => ObserveRequest::None,
        },
    }
}

/// Sets the Observe option (24-bit, minimal bytes).
pub fn set_observe(packet: &mut Packet, sequence: u32) {
    let value = (sequence & SEQUENCE_MASK).to_be_bytes();
    let skip = value.iter().take_while(|b| **b == 0).count();
    packet.clear_option(CoapOption::Observe);
    packet.add_option(CoapOption::Observe, value[skip..].to_vec());
}

#[derive(Debug, Clone)]
struct Observation {
    /// The GET to re-run for each notification (without the Observe option).
    request: Packet,
    period: Duration,
    next_at: Instant,
    sequence: u32,
}

/// A notification to send now.
#[derive(Debug, Clone)]
pub struct DueNotification {
    /// The observer.
    pub peer: SocketAddr,
    /// The observation's token.
    pub token: Vec<u8>,
    /// The request to re-run through the device to get the current value.
    pub request: Packet,
    /// The Observe sequence number to put in the notification.
    pub sequence: u32,
    /// Send as CON.
    pub confirmable: bool,
}

/// The observations of one device, keyed by (observer, token).
#[derive(Debug, Clone, Default)]
pub struct Observations {
    table: BTreeMap<(SocketAddr, Vec<u8>), Observation>,
}

impl Observations {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many observations are active.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether none is active.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Registers (or refreshes) an observation after a successful first response; returns
    /// the sequence number for that response, or `None` when the table is full.
    pub fn register(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: &Packet,
        period: Duration,
    ) -> Option<u32> {
        let key = (peer, request.get_token().to_vec());
        if !self.table.contains_key(&key) && self.table.len() >= MAX_OBSERVATIONS {
            return None;
        }
        let mut request = request.clone();
        request.clear_option(CoapOption::Observe);
        let period = period.max(Duration::from_secs(1));
        self.table.insert(
            key,
            Observation {
                request,
                period,
                next_at: now + period,
                sequence: 0,
            },
        );
        Some(0)
    }

    /// Cancels the observation of `peer` with `token` (Observe 1, or an RST to a
    /// notification). Returns whether one existed.
    pub fn cancel(&mut self, peer: SocketAddr, token: &[u8]) -> bool {
        self.table.remove(&(peer, token.to_vec())).is_some()
    }

    /// Drops every observation (a reboot).
    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// When the next notification is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.values().map(|o| o.next_at).min()
    }

    /// The notifications due at `now`; each observation is rescheduled one period later.
    pub fn due(&mut self, now: Instant) -> Vec<DueNotification> {
        let mut due = Vec::new();
        for ((peer, token), observation) in &mut self.table {
            if observation.next_at > now {
                continue;
            }
            observation.sequence = (observation.sequence + 1) & SEQUENCE_MASK;
            observation.next_at = now + observation.period;
            due.push(DueNotification {
                peer: *peer,
                token: token.clone(),
                request: observation.request.clone(),
                sequence: observation.sequence,
                confirmable: observation.sequence % CONFIRMABLE_EVERY == 0,
            });
        }
        due
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn get(token: u8, observe: Option<u8>) -> Packet {
        let mut packet = Packet::new();
        packet.set_token(vec![token]);
        if let Some(value) = observe {
            packet.add_option(
                CoapOption::Observe,
                if value == 0 { vec![] } else { vec![value] },
            );
        }
        packet
    }

    #[test]
    fn reads_the_observe_option() {
        assert_eq!(observe_request(&get(1, None)), ObserveRequest::None);
        assert_eq!(observe_request(&get(1, Some(0))), ObserveRequest::Register);
        assert_eq!(
            observe_request(&get(1, Some(1))),
            ObserveRequest::Deregister
        );
        assert_eq!(observe_request(&get(1, Some(7))), ObserveRequest::None);
        let mut packet = Packet::new();
        set_observe(&mut packet, 0x0100_0005);
        assert_eq!(packet.get_first_option(CoapOption::Observe), Some(&vec![5]));
    }

    #[test]
    fn periodic_notifications_with_increasing_sequence() {
        let start = Instant::now();
        let peer: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let mut table = Observations::new();
        assert_eq!(
            table.register(start, peer, &get(1, Some(0)), Duration::from_secs(5)),
            Some(0)
        );
        assert_eq!(table.poll_timeout(), Some(start + Duration::from_secs(5)));
        assert!(table.due(start + Duration::from_secs(4)).is_empty());
        let mut sequences = Vec::new();
        for i in 1..=10u64 {
            let due = table.due(start + Duration::from_secs(5 * i));
            assert_eq!(due.len(), 1);
            assert!(
                due[0]
                    .request
                    .get_first_option(CoapOption::Observe)
                    .is_none()
            );
            sequences.push((due[0].sequence, due[0].confirmable));
        }
        assert_eq!(sequences[0], (1, false));
        assert_eq!(sequences[9], (10, true));
        assert!(table.cancel(peer, &[1]));
        assert!(!table.cancel(peer, &[1]));
        assert_eq!(table.poll_timeout(), None);
    }

    #[test]
    fn table_is_bounded() {
        let start = Instant::now();
        let peer: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let mut table = Observations::new();
        for token in 0..MAX_OBSERVATIONS {
            let token = u8::try_from(token).unwrap();
            assert!(
                table
                    .register(start, peer, &get(token, Some(0)), Duration::from_secs(1))
                    .is_some()
            );
        }
        assert!(
            table
                .register(start, peer, &get(200, Some(0)), Duration::from_secs(1))
                .is_none()
        );
        // Refreshing an existing observation is still allowed.
        assert!(
            table
                .register(start, peer, &get(0, Some(0)), Duration::from_secs(1))
                .is_some()
        );
        assert_eq!(table.len(), MAX_OBSERVATIONS);
    }
}
