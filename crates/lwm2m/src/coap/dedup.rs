//! Duplicate detection (RFC 7252 §4.5): received message IDs are remembered per peer for
//! EXCHANGE_LIFETIME together with what was answered, so a retransmitted request gets the
//! same answer again instead of being processed twice. Bounded: the oldest are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use tokio::time::Instant;

use super::types::ExchangeId;

/// What we did with a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A request handed to the application, not answered yet and not acknowledged.
    Pending(ExchangeId),
    /// Replay these bytes on a duplicate (an ACK, a piggy-backed response or an RST).
    /// Empty means: ignore the duplicate.
    Answered(Vec<u8>),
}

type Key = (SocketAddr, u16);

/// Remembers received message IDs.
#[derive(Debug)]
pub(crate) struct DedupCache {
    entries: HashMap<Key, Seen>,
    expiry: VecDeque<(Instant, Key)>,
    capacity: usize,
}

impl DedupCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            expiry: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, peer: SocketAddr, mid: u16) -> Option<&Seen> {
        self.entries.get(&(peer, mid))
    }

    /// Records a new message; `expires` is `now + EXCHANGE_LIFETIME`. Beyond capacity the
    /// oldest messages are forgotten; the unanswered exchanges among them are returned.
    pub(crate) fn insert(
        &mut self,
        peer: SocketAddr,
        mid: u16,
        seen: Seen,
        expires: Instant,
    ) -> Vec<ExchangeId> {
        if self.entries.insert((peer, mid), seen).is_none() {
            self.expiry.push_back((expires, (peer, mid)));
        }
        let mut unanswered = Vec::new();
        while self.entries.len() > self.capacity {
            match self.expiry.pop_front() {
                Some((_, key)) => {
                    if let Some(Seen::Pending(exchange)) = self.entries.remove(&key) {
                        unanswered.push(exchange);
                    }
                }
                None => break,
            }
        }
        unanswered
    }

    /// Replaces what is remembered for a message already recorded.
    pub(crate) fn update(&mut self, peer: SocketAddr, mid: u16, seen: Seen) {
        if let Some(entry) = self.entries.get_mut(&(peer, mid)) {
            *entry = seen;
        }
    }

    /// Forgets every message whose lifetime ended at or before `now` (and the oldest ones
    /// beyond capacity). Returns the exchanges that were still unanswered, so their state can
    /// be dropped too.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<ExchangeId> {
        let mut unanswered = Vec::new();
        while let Some((expires, key)) = self.expiry.front() {
            if *expires > now {
                break;
            }
            if let Some(Seen::Pending(exchange)) = self.entries.remove(key) {
                unanswered.push(exchange);
            }
            self.expiry.pop_front();
        }
        unanswered
    }

    /// When the oldest entry expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.front().map(|(at, _)| *at)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
