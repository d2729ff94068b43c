//! A [`DatagramTransport`] wrapper that impairs a device's link: in each direction it loses,
//! duplicates and reorders datagrams at seeded random (the profile's [`LinkProfile`]).
//!
//! Reordering holds a datagram back for a drawn extra delay in `(0, reorder_delay]` so that
//! later datagrams overtake it: received datagrams wait in a bounded buffer
//! ([`MAX_HELD`]; beyond it they pass at once) and are handed out when due; sent ones are
//! sent by a short-lived task after their delay (at most [`MAX_HELD`] at a time).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fleetbench_lwm2m::transport::DatagramTransport;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::driver::Shared;
use crate::profile::{LinkImpairment, LinkProfile};
use crate::stats::FleetCounters;

/// Most datagrams held back per direction.
pub const MAX_HELD: usize = 16;

type Held = Reverse<(Instant, u64, Vec<u8>, SocketAddr)>;

#[derive(Debug)]
struct Downlink {
    rng: ChaCha8Rng,
    held: BinaryHeap<Held>,
    duplicate: Option<(Vec<u8>, SocketAddr)>,
    sequence: u64,
}

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Lost,
    Held(Duration),
    Delivered { twice: bool },
}

fn decide(rng: &mut ChaCha8Rng, link: &LinkImpairment) -> Fate {
    if link.is_perfect() {
        return Fate::Delivered { twice: false };
    }
    let draws: [f64; 3] = [rng.random(), rng.random(), rng.random()];
    if draws[0] < link.loss {
        return Fate::Lost;
    }
    if draws[1] < link.reorder {
        let fraction: f64 = rng.random_range(f64::EPSILON..=1.0);
        return Fate::Held(link.reorder_delay.mul_f64(fraction));
    }
    Fate::Delivered {
        twice: draws[2] < link.duplicate,
    }
}

/// A transport whose datagrams suffer the impairments of a [`LinkProfile`].
#[derive(Debug)]
pub struct ImpairedTransport<T> {
    inner: Arc<T>,
    link: LinkProfile,
    uplink: Mutex<ChaCha8Rng>,
    downlink: Mutex<Downlink>,
    held_sends: Arc<AtomicUsize>,
    shared: Arc<Shared>,
}

impl<T: DatagramTransport> ImpairedTransport<T> {
    /// Wraps `inner`; every draw comes from `seed`; counters go to `shared`.
    pub fn new(inner: T, link: LinkProfile, seed: u64, shared: Arc<Shared>) -> Self {
        let mut seeds = ChaCha8Rng::seed_from_u64(seed);
        let up: u64 = seeds.random();
        let down: u64 = seeds.random();
        Self {
            inner: Arc::new(inner),
            link,
            uplink: Mutex::new(ChaCha8Rng::seed_from_u64(up)),
            downlink: Mutex::new(Downlink {
                rng: ChaCha8Rng::seed_from_u64(down),
                held: BinaryHeap::new(),
                duplicate: None,
                sequence: 0,
            }),
            held_sends: Arc::new(AtomicUsize::new(0)),
            shared,
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn counters(&self) -> &FleetCounters {
        &self.shared.counters
    }

    /// A datagram ready to hand out now: a duplicate, or a held one that is due. Also
    /// returns when the next held one is due.
    fn ready(&self, now: Instant) -> (Option<(Vec<u8>, SocketAddr)>, Option<Instant>) {
        let mut state = self.downlink.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(duplicate) = state.duplicate.take() {
            return (Some(duplicate), None);
        }
        let due = state
            .held
            .peek()
            .is_some_and(|Reverse((at, ..))| *at <= now);
        if due && let Some(Reverse((_, _, bytes, from))) = state.held.pop() {
            return (Some((bytes, from)), None);
        }
        (None, state.held.peek().map(|Reverse((at, ..))| *at))
    }

    /// Decides the fate of a received datagram; returns whether to hand it out now.
    fn arrived(&self, now: Instant, datagram: &[u8], from: SocketAddr) -> bool {
        let mut state = self.downlink.lock().unwrap_or_else(PoisonError::into_inner);
        match decide(&mut state.rng, &self.link.downlink) {
            Fate::Lost => {
                FleetCounters::bump(&self.counters().datagrams_lost);
                false
            }
            Fate::Held(delay) if state.held.len() < MAX_HELD => {
                FleetCounters::bump(&self.counters().datagrams_reordered);
                state.sequence += 1;
                let sequence = state.sequence;
                state
                    .held
                    .push(Reverse((now + delay, sequence, datagram.to_vec(), from)));
                false
            }
            Fate::Held(_) => true,
            Fate::Delivered { twice } => {
                if twice {
                    FleetCounters::bump(&self.counters().datagrams_duplicated);
                    state.duplicate = Some((datagram.to_vec(), from));
                }
                true
            }
        }
    }
}

fn copy_out(buffer: &mut [u8], bytes: &[u8]) -> usize {
    let length = bytes.len().min(buffer.len());
    buffer[..length].copy_from_slice(&bytes[..length]);
    length
}

impl<T: DatagramTransport> DatagramTransport for ImpairedTransport<T> {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    async fn send_to(&self, datagram: &[u8], peer: SocketAddr) -> io::Result<usize> {
        let fate = {
            let mut rng = self.uplink.lock().unwrap_or_else(PoisonError::into_inner);
            decide(&mut rng, &self.link.uplink)
        };
        match fate {
            Fate::Lost => {
                FleetCounters::bump(&self.counters().datagrams_lost);
                Ok(datagram.len())
            }
            Fate::Held(delay) if self.held_sends.load(Ordering::Relaxed) < MAX_HELD => {
                FleetCounters::bump(&self.counters().datagrams_reordered);
                self.held_sends.fetch_add(1, Ordering::Relaxed);
                let (inner, held, bytes) = (
                    Arc::clone(&self.inner),
                    Arc::clone(&self.held_sends),
                    datagram.to_vec(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = inner.send_to(&bytes, peer).await;
                    held.fetch_sub(1, Ordering::Relaxed);
                });
                Ok(datagram.len())
            }
            Fate::Held(_) => self.inner.send_to(datagram, peer).await,
            Fate::Delivered { twice } => {
                let sent = self.inner.send_to(datagram, peer).await?;
                if twice {
                    FleetCounters::bump(&self.counters().datagrams_duplicated);
                    let _ = self.inner.send_to(datagram, peer).await;
                }
                Ok(sent)
            }
        }
    }

    async fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // Each round awaits a datagram or the release of a held one.
        loop {
            let (ready, next_release) = self.ready(Instant::now());
            if let Some((bytes, from)) = ready {
                return Ok((copy_out(buffer, &bytes), from));
            }
            let received = match next_release {
                Some(at) => tokio::select! {
                    received = self.inner.recv_from(buffer) => Some(received),
                    () = tokio::time::sleep_until(at) => None,
                },
                None => Some(self.inner.recv_from(buffer).await),
            };
            let Some(received) = received else {
                continue;
            };
            let (length, from) = received?;
            let datagram = buffer.get(..length).unwrap_or_default();
            if self.arrived(Instant::now(), datagram, from) {
                return Ok((length, from));
            }
        }
    }
}

#[cfg(test)]
mod tests;
