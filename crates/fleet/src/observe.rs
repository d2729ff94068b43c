//! Observations the device serves (RFC 7641 device side, with the LwM2M 1.1 notification
//! attributes) as a sans-IO table.
//!
//! An observation notifies when its value changed — any change, or, when `gt`, `lt` or `st`
//! are in force, a crossing of `gt`/`lt` or a move of at least `st` since the last
//! notification — but never sooner than `pmin` after the previous notification, and at the
//! latest `pmax` after it (when `pmax` is above `pmin`). `pmin`/`pmax` default to the
//! Server object's `/1/0/2` and `/1/0/3`.
//!
//! Nothing polls: values change either by themselves at instants the data model reports
//! ([`Device::next_change`]: sensor samples, the clock) or through requests (the driver then
//! calls [`Observations::values_changed`]). Each observation keeps the instant it must be
//! looked at next, and the table reports the earliest one, which the driver folds into the
//! device's single timer.
//!
//! Notifications are non-confirmable, except every [`CONFIRMABLE_EVERY`]-th one and any sent
//! [`CONFIRMABLE_AT_LEAST`] after the last confirmable one, so that a vanished observer is
//! noticed (RFC 7641 §4.5). Sequence numbers are 24-bit and wrap.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, Packet, ResponseType};
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use crate::device::{Device, etag, message};
use crate::model::Attributes;

/// The most observations one device serves; further Observe registrations get a plain
/// response (RFC 7641 §4.1 allows ignoring the option).
pub const MAX_OBSERVATIONS: usize = 32;

/// Every n-th notification is sent confirmable.
pub const CONFIRMABLE_EVERY: u32 = 10;

/// A notification is sent confirmable when the last confirmable one is this old.
pub const CONFIRMABLE_AT_LEAST: Duration = Duration::from_secs(24 * 3600);

/// Observe option values are 24-bit (RFC 7641 §4.4).
pub const SEQUENCE_MASK: u32 = 0x00ff_ffff;

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
        Some(value) if value.len() > 3 => ObserveRequest::None,
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

/// What identifies a representation for change detection: the ETag when the body was cut
/// into blocks, else a digest of content format and payload.
fn digest(response: &Packet) -> u64 {
    if let Some(tag) = response.get_first_option(CoapOption::ETag)
        && let Ok(bytes) = <[u8; 8]>::try_from(tag.as_slice())
    {
        return u64::from_be_bytes(bytes);
    }
    let format = response
        .get_first_option(CoapOption::ContentFormat)
        .map(Vec::as_slice)
        .unwrap_or_default();
    etag::digest(format, &response.payload)
}

fn seconds(value: Option<u32>) -> Duration {
    Duration::from_secs(u64::from(value.unwrap_or(0)))
}

#[derive(Debug, Clone)]
struct Observation {
    /// The GET to re-run for each notification (without Observe and Block2).
    request: Packet,
    path: Lwm2mPath,
    sequence: u32,
    last_sent: Instant,
    last_confirmable: Instant,
    since_confirmable: u32,
    last_digest: u64,
    last_value: Option<f64>,
    last_evaluated: Instant,
    pending: bool,
    next_at: Option<Instant>,
}

/// A notification to send now.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The observer.
    pub peer: SocketAddr,
    /// The observation's token.
    pub token: Vec<u8>,
    /// The notification: 2.05 with the Observe option, or the error that ends it.
    pub response: Packet,
    /// Send as CON.
    pub confirmable: bool,
}

/// The observations of one device, keyed by (observer, token).
#[derive(Debug, Clone, Default)]
pub struct Observations {
    table: BTreeMap<(SocketAddr, Vec<u8>), Observation>,
    changed: bool,
    initial_sequence: u32,
}

enum Verdict {
    Quiet,
    Notify(Packet),
    End(Packet),
}

impl Observations {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table whose observations start counting at `sequence` (to test the 24-bit
    /// wrap, or to continue a sequence).
    pub fn with_initial_sequence(sequence: u32) -> Self {
        Self {
            initial_sequence: sequence & SEQUENCE_MASK,
            ..Self::default()
        }
    }

    /// How many observations are active.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether none is active.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Registers (or refreshes) an observation after its first response (2.05) was built;
    /// returns the sequence number to put in that response, or `None` when the table is
    /// full or the request names no LwM2M path.
    pub fn register(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        request: &Packet,
        response: &Packet,
        device: &mut Device,
    ) -> Option<u32> {
        let key = (peer, request.get_token().to_vec());
        if !self.table.contains_key(&key) && self.table.len() >= MAX_OBSERVATIONS {
            return None;
        }
        let path = message::uri_path(request)
            .and_then(|segments| Lwm2mPath::from_segments(&segments).ok())?;
        let mut stored = request.clone();
        stored.clear_option(CoapOption::Observe);
        stored.clear_option(CoapOption::Block2);
        let attributes = device.observation_attributes(&path);
        let last_value = if attributes.has_conditions() {
            device.numeric_value(now, &path)
        } else {
            None
        };
        let mut observation = Observation {
            request: stored,
            path,
            sequence: self.initial_sequence,
            last_sent: now,
            last_confirmable: now,
            since_confirmable: 0,
            last_digest: digest(response),
            last_value,
            last_evaluated: now,
            pending: false,
            next_at: None,
        };
        schedule(&mut observation, now, &attributes, device);
        let sequence = observation.sequence;
        self.table.insert(key, observation);
        Some(sequence)
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

    /// Values may have changed through a request: look at every observation at the next
    /// [`Self::poll`].
    pub fn values_changed(&mut self) {
        if !self.table.is_empty() {
            self.changed = true;
        }
    }

    /// When [`Self::poll`] has something to do next (`None`: nothing until a request).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.table.values().filter_map(|o| o.next_at).min()
    }

    /// Whether [`Self::poll`] must run now regardless of the time (values changed).
    pub fn has_changes(&self) -> bool {
        self.changed
    }

    /// Evaluates the observations that are due at `now` (all of them after
    /// [`Self::values_changed`]) and returns the notifications to send. An observation
    /// whose path no longer reads (deleted instance) sends that error and ends.
    pub fn poll(&mut self, now: Instant, device: &mut Device) -> Vec<Notification> {
        let changed = std::mem::take(&mut self.changed);
        let mut out = Vec::new();
        let mut ended = Vec::new();
        for (key, observation) in &mut self.table {
            let due = observation.next_at.is_some_and(|at| at <= now);
            if !changed && !due {
                continue;
            }
            let attributes = device.observation_attributes(&observation.path);
            match evaluate(observation, now, &attributes, changed, device) {
                Verdict::Quiet => {}
                Verdict::Notify(response) => {
                    let confirmable = observation.since_confirmable + 1 >= CONFIRMABLE_EVERY
                        || now.saturating_duration_since(observation.last_confirmable)
                            >= CONFIRMABLE_AT_LEAST;
                    if confirmable {
                        observation.since_confirmable = 0;
                        observation.last_confirmable = now;
                    } else {
                        observation.since_confirmable += 1;
                    }
                    out.push(Notification {
                        peer: key.0,
                        token: key.1.clone(),
                        response,
                        confirmable,
                    });
                }
                Verdict::End(response) => {
                    ended.push(key.clone());
                    out.push(Notification {
                        peer: key.0,
                        token: key.1.clone(),
                        response,
                        confirmable: false,
                    });
                    continue;
                }
            }
            schedule(observation, now, &attributes, device);
        }
        for key in ended {
            self.table.remove(&key);
        }
        out
    }
}

/// Whether the value moved enough to notify, given the attributes in force.
fn condition_met(
    attributes: &Attributes,
    last_digest: u64,
    digest: u64,
    last: Option<f64>,
    current: Option<f64>,
) -> bool {
    if digest == last_digest {
        return false;
    }
    let (Some(last), Some(current), true) = (last, current, attributes.has_conditions()) else {
        return true;
    };
    let crosses = |threshold: Option<f64>| {
        threshold.is_some_and(|t| (last > t) != (current > t) || (last < t) != (current < t))
    };
    crosses(attributes.gt)
        || crosses(attributes.lt)
        || attributes
            .st
            .is_some_and(|step| (current - last).abs() >= step)
}

fn evaluate(
    observation: &mut Observation,
    now: Instant,
    attributes: &Attributes,
    changed: bool,
    device: &mut Device,
) -> Verdict {
    let pmin = seconds(attributes.pmin);
    let pmax = attributes
        .pmax
        .filter(|&p| p > 0 && p >= attributes.pmin.unwrap_or(0))
        .map(|p| seconds(Some(p)));
    let since = now.saturating_duration_since(observation.last_sent);
    let pmax_due = pmax.is_some_and(|p| since >= p);
    let pmin_over = since >= pmin;
    let evaluation_allowed = attributes.epmin.is_none_or(|e| {
        now.saturating_duration_since(observation.last_evaluated) >= seconds(Some(e))
    });
    let evaluation_due = attributes.epmax.is_some_and(|e| {
        now.saturating_duration_since(observation.last_evaluated) >= seconds(Some(e))
    });
    let look = changed
        || pmax_due
        || evaluation_due
        || (pmin_over && (evaluation_allowed || observation.pending));
    if !look {
        return Verdict::Quiet;
    }
    let mut response = device.handle_request(now, &observation.request).response;
    observation.last_evaluated = now;
    if message::response_code(&response) != Some(ResponseType::Content) {
        return Verdict::End(response);
    }
    let digest = digest(&response);
    let value = if attributes.has_conditions() {
        device.numeric_value(now, &observation.path)
    } else {
        None
    };
    if condition_met(
        attributes,
        observation.last_digest,
        digest,
        observation.last_value,
        value,
    ) {
        observation.pending = true;
    }
    if (observation.pending && pmin_over) || pmax_due {
        observation.sequence = (observation.sequence + 1) & SEQUENCE_MASK;
        observation.last_sent = now;
        observation.last_digest = digest;
        observation.last_value = value.or(observation.last_value);
        observation.pending = false;
        set_observe(&mut response, observation.sequence);
        return Verdict::Notify(response);
    }
    Verdict::Quiet
}

/// When to look at `observation` next: `pmax` after the last notification, `pmin` after it
/// when a change waits, the next change of the observed value (not before `pmin`, nor
/// before `epmin` after the last evaluation), and `epmax` after the last evaluation.
fn schedule(
    observation: &mut Observation,
    now: Instant,
    attributes: &Attributes,
    device: &mut Device,
) {
    let pmin = seconds(attributes.pmin);
    let mut candidates: Vec<Instant> = Vec::with_capacity(4);
    if let Some(pmax) = attributes
        .pmax
        .filter(|&p| p > 0 && p >= attributes.pmin.unwrap_or(0))
    {
        candidates.push(observation.last_sent + seconds(Some(pmax)));
    }
    let mut threshold = observation.last_sent + pmin;
    if let Some(epmin) = attributes.epmin {
        threshold = threshold.max(observation.last_evaluated + seconds(Some(epmin)));
    }
    if observation.pending {
        candidates.push(threshold.max(now));
    } else if let Some(change) = device.next_change(&observation.path, now) {
        candidates.push(change.max(threshold));
    }
    if let Some(epmax) = attributes.epmax {
        candidates.push(observation.last_evaluated + seconds(Some(epmax)));
    }
    observation.next_at = candidates.into_iter().min();
}

#[cfg(test)]
mod tests;
