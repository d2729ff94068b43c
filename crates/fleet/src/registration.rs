//! The client side of the LwM2M registration interface as a sans-IO state machine: when to
//! Register, Update and De-register, what to send, and what to do with the answers.
//!
//! The driver asks [`Registration::poll_request`] for a request to send whenever the
//! deadline from [`Registration::poll_timeout`] has passed (or after any event), sends it
//! through the CoAP endpoint, and feeds back the response or failure.
//!
//! A Register (or an Update carrying the object list) whose payload is larger than one block
//! ([`DEFAULT_REGISTER_BLOCK_SIZE`] bytes) goes out with Block1 (RFC 7959): each 2.31
//! Continue makes the next block due at once (`poll_timeout` returns the instant of the
//! 2.31), a smaller SZX from the server is followed, a 4.13 with a smaller Block1 size
//! restarts with that size, and the answer to the last block is the answer to the request.

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};
use fleetbench_lwm2m::block_upload::{BlockUpload, UploadStep};
use fleetbench_lwm2m::registration::{self, RegistrationParams};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

/// Largest Register/Update payload sent in one message; larger ones go with Block1 in blocks of
/// this size (RFC 7959; 1024 bytes keeps every datagram under the 1152-byte IP MTU guidance
/// of RFC 7252 §4.6).
pub const DEFAULT_REGISTER_BLOCK_SIZE: usize = 1024;

/// Back-off after a failed Register or Update: `min(base * 2^failures, cap)`, stretched by a
/// seeded factor in `[1, 1.5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(60),
        }
    }
}

/// Which registration request is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /rd?ep=..`.
    Register,
    /// `POST /{location}`.
    Update,
    /// `DELETE /{location}`.
    Deregister,
}

/// What a response or failure meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2.01 to Register: the device is registered.
    Registered,
    /// 2.04 to Update.
    Updated,
    /// 2.02 to De-register (or any answer: the device stops either way).
    Deregistered,
    /// Register failed; a retry is scheduled.
    RegisterFailed,
    /// Update failed (4.04: registration lost; or no answer); a Register is scheduled.
    UpdateFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not registered; Register at the instant.
    Unregistered { register_at: Instant },
    /// Register in flight.
    Registering,
    /// Registered; Update due at the instant.
    Registered {
        location: Vec<String>,
        update_at: Instant,
    },
    /// Update in flight.
    Updating { location: Vec<String> },
    /// De-register in flight.
    Deregistering,
    /// Done (de-registered, or stopped): sends nothing more.
    Stopped,
}

/// One device's registration with one LwM2M server.
#[derive(Debug, Clone)]
pub struct Registration {
    endpoint: String,
    lifetime: Duration,
    send_lifetime: bool,
    send_links: bool,
    queue_mode: bool,
    update_period: Option<Duration>,
    retry: RetryPolicy,
    failures: u32,
    state: State,
    rng: ChaCha8Rng,
    block_size: usize,
    upload: Option<BlockUpload>,
    next_block: Option<(Instant, Packet)>,
}

impl Registration {
    /// A client that sends its first Register at `first_register_at`.
    pub fn new(
        endpoint: &str,
        lifetime: Duration,
        first_register_at: Instant,
        retry: RetryPolicy,
        seed: u64,
    ) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            lifetime: lifetime.max(Duration::from_secs(1)),
            send_lifetime: false,
            send_links: false,
            queue_mode: false,
            update_period: None,
            retry,
            failures: 0,
            state: State::Unregistered {
                register_at: first_register_at,
            },
            rng: ChaCha8Rng::seed_from_u64(seed),
            block_size: DEFAULT_REGISTER_BLOCK_SIZE,
            upload: None,
            next_block: None,
        }
    }

    /// Sends Register/Update payloads larger than `size` bytes with Block1 in blocks of
    /// `size` (a power of two in 16..=1024; anything else keeps the default).
    pub fn with_block_size(mut self, size: usize) -> Self {
        if fleetbench_lwm2m::block::BlockOption::szx_for_size(size).is_ok() {
            self.block_size = size;
        }
        self
    }

    /// Splits `packet` into Block1 blocks when its payload is larger than one block, and
    /// returns what to send first.
    fn start_upload(&mut self, packet: Packet) -> Packet {
        self.upload = None;
        self.next_block = None;
        match BlockUpload::start(packet.clone(), self.block_size) {
            Ok((first, upload)) => {
                self.upload = upload;
                first
            }
            Err(_) => packet,
        }
    }

    fn clear_upload(&mut self) {
        self.upload = None;
        self.next_block = None;
    }

    /// Registers in queue mode (LwM2M 1.1: `b=U` plus the value-less `Q` parameter).
    pub fn with_queue_mode(mut self, queue_mode: bool) -> Self {
        self.queue_mode = queue_mode;
        self
    }

    /// Sends Updates every `period` (with a seeded ±5 % jitter) instead of at about half the
    /// lifetime; periods beyond 90 % of the lifetime are cut to that.
    pub fn with_update_period(mut self, period: Option<Duration>) -> Self {
        self.update_period = period.filter(|p| !p.is_zero());
        self
    }

    /// Whether the server holds a registration for this device (registered or updating).
    pub fn is_registered(&self) -> bool {
        matches!(
            self.state,
            State::Registered { .. } | State::Updating { .. }
        )
    }

    /// Whether a registration request is in flight.
    pub fn in_flight(&self) -> Option<RequestKind> {
        match self.state {
            State::Registering => Some(RequestKind::Register),
            State::Updating { .. } => Some(RequestKind::Update),
            State::Deregistering => Some(RequestKind::Deregister),
            _ => None,
        }
    }

    /// The registration handle (Location-Path segments) while registered.
    pub fn location(&self) -> Option<&[String]> {
        match &self.state {
            State::Registered { location, .. } | State::Updating { location } => Some(location),
            _ => None,
        }
    }

    /// The lifetime sent in Register (and in Update after a change).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// When the next request is due, if one is scheduled and none is in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some((at, _)) = &self.next_block {
            return Some(*at);
        }
        match &self.state {
            State::Unregistered { register_at } => Some(*register_at),
            State::Registered { update_at, .. } => Some(*update_at),
            _ => None,
        }
    }

    /// The request to send now, if one is due. `links` is the Register payload.
    pub fn poll_request(&mut self, now: Instant, links: &str) -> Option<(RequestKind, Packet)> {
        if let Some((at, _)) = &self.next_block {
            if *at > now {
                return None;
            }
            let kind = self.in_flight()?;
            let (_, packet) = self.next_block.take()?;
            return Some((kind, packet));
        }
        match &self.state {
            State::Unregistered { register_at } if *register_at <= now => {
                self.state = State::Registering;
                let packet = self.register_packet(links);
                Some((RequestKind::Register, self.start_upload(packet)))
            }
            State::Registered {
                location,
                update_at,
            } if *update_at <= now => {
                let location = location.clone();
                let links = self.send_links.then_some(links);
                let packet = self.update_packet(&location, links);
                let packet = self.start_upload(packet);
                self.send_lifetime = false;
                self.send_links = false;
                self.state = State::Updating { location };
                Some((RequestKind::Update, packet))
            }
            _ => None,
        }
    }

    /// Schedules an Update now (Execute on `/1/0/8`). Ignored unless registered.
    pub fn trigger_update(&mut self, now: Instant) {
        if let State::Registered { update_at, .. } = &mut self.state {
            *update_at = now;
        }
    }

    /// A new lifetime (Write on `/1/0/1`): the next Update carries it, and is sent now.
    pub fn set_lifetime(&mut self, now: Instant, lifetime: Duration) {
        self.lifetime = lifetime.max(Duration::from_secs(1));
        self.send_lifetime = true;
        self.trigger_update(now);
    }

    /// The object list changed (instances created or deleted): an Update carrying the new
    /// list is sent now.
    pub fn objects_changed(&mut self, now: Instant) {
        self.send_links = true;
        self.trigger_update(now);
    }

    /// Forgets the registration (a reboot) and registers again at `register_at`.
    pub fn restart(&mut self, register_at: Instant) {
        self.clear_upload();
        self.failures = 0;
        self.send_lifetime = false;
        self.send_links = false;
        self.state = State::Unregistered { register_at };
    }

    /// The De-register request, if registered; afterwards nothing more is sent. When not
    /// registered, the client just stops.
    pub fn deregister(&mut self) -> Option<Packet> {
        self.clear_upload();
        let packet = self.location().map(registration::deregister_request);
        self.state = if packet.is_some() {
            State::Deregistering
        } else {
            State::Stopped
        };
        packet
    }

    /// Feeds the answer to the request in flight. During a Block1 transfer a 2.31 Continue
    /// returns `None` and makes the next block due at `now`.
    pub fn on_response(&mut self, now: Instant, response: &Packet) -> Option<Outcome> {
        let code = match response.header.code {
            MessageClass::Response(code) => code,
            _ => return None,
        };
        if self.in_flight().is_some()
            && let Some(upload) = &mut self.upload
        {
            match upload.on_response(response) {
                UploadStep::Send(packet) => {
                    self.next_block = Some((now, packet));
                    return None;
                }
                UploadStep::Done(_) => self.clear_upload(),
                UploadStep::Failed(reason) => {
                    tracing::debug!(endpoint = %self.endpoint, %reason, "Block1 registration transfer failed");
                    return self.on_failure(now);
                }
            }
        }
        match (&self.state, code) {
            (State::Registering, ResponseType::Created) => {
                let location: Option<Vec<String>> = response
                    .get_option(CoapOption::LocationPath)
                    .and_then(|segments| {
                        segments
                            .iter()
                            .map(|s| String::from_utf8(s.clone()).ok())
                            .collect()
                    });
                let Some(location) = location.filter(|l| !l.is_empty()) else {
                    return Some(self.register_failed(now));
                };
                self.failures = 0;
                let update_at = now + self.update_interval();
                self.state = State::Registered {
                    location,
                    update_at,
                };
                Some(Outcome::Registered)
            }
            (State::Registering, _) => Some(self.register_failed(now)),
            (State::Updating { location }, ResponseType::Changed) => {
                let location = location.clone();
                self.failures = 0;
                let update_at = now + self.update_interval();
                self.state = State::Registered {
                    location,
                    update_at,
                };
                Some(Outcome::Updated)
            }
            (State::Updating { .. }, ResponseType::NotFound) => {
                self.state = State::Unregistered { register_at: now };
                Some(Outcome::UpdateFailed)
            }
            (State::Updating { .. }, _) => Some(self.update_failed(now)),
            (State::Deregistering, _) => {
                self.state = State::Stopped;
                Some(Outcome::Deregistered)
            }
            _ => None,
        }
    }

    /// Feeds a failed exchange (timeout, RST) of the request in flight.
    pub fn on_failure(&mut self, now: Instant) -> Option<Outcome> {
        self.clear_upload();
        match self.state {
            State::Registering => Some(self.register_failed(now)),
            State::Updating { .. } => Some(self.update_failed(now)),
            State::Deregistering => {
                self.state = State::Stopped;
                Some(Outcome::Deregistered)
            }
            _ => None,
        }
    }

    fn register_failed(&mut self, now: Instant) -> Outcome {
        let delay = self.backoff();
        self.state = State::Unregistered {
            register_at: now + delay,
        };
        Outcome::RegisterFailed
    }

    fn update_failed(&mut self, now: Instant) -> Outcome {
        let delay = self.backoff();
        self.state = State::Unregistered {
            register_at: now + delay,
        };
        Outcome::UpdateFailed
    }

    /// The next back-off delay; counts the failure.
    fn backoff(&mut self) -> Duration {
        let exponent = self.failures.min(16);
        self.failures = self.failures.saturating_add(1);
        let delay = self
            .retry
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.retry.cap);
        delay.mul_f64(self.rng.random_range(1.0..1.5))
    }

    /// Update at about half the lifetime (45 to 55 %, seeded), so that devices registered
    /// together do not update together — or at the configured period (±5 %), never later
    /// than 90 % of the lifetime.
    fn update_interval(&mut self) -> Duration {
        match self.update_period {
            Some(period) => period
                .mul_f64(self.rng.random_range(0.95..1.05))
                .min(self.lifetime.mul_f64(0.9)),
            None => self.lifetime.mul_f64(self.rng.random_range(0.45..0.55)),
        }
    }

    fn register_packet(&self, links: &str) -> Packet {
        let mut params = RegistrationParams::new(&self.endpoint, self.lifetime_secs());
        params.queue_mode = self.queue_mode;
        registration::register_request(&params, links)
    }

    fn update_packet(&self, location: &[String], links: Option<&str>) -> Packet {
        let lifetime = self.send_lifetime.then(|| self.lifetime_secs());
        registration::update_request(location, lifetime, links)
    }

    fn lifetime_secs(&self) -> u32 {
        u32::try_from(self.lifetime.as_secs()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod block1_tests;
