//! Transmission parameters (RFC 7252 §4.8) and the endpoint's resource bounds.

use std::time::Duration;

/// Transmission parameters and bounds of an [`Endpoint`](super::Endpoint).
///
/// Defaults are the RFC 7252 §4.8 values.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// ACK_TIMEOUT: initial retransmission timeout (before randomisation).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR: the initial timeout is drawn from
    /// `[ack_timeout, ack_timeout * ack_random_factor]`. Must be >= 1.
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT: retransmissions of a CON before giving up.
    pub max_retransmit: u32,
    /// NSTART: outstanding interactions per peer; further requests wait in a per-peer queue.
    pub nstart: usize,
    /// Requests that may wait for an NSTART slot per peer; beyond it a request fails at once.
    pub max_queued_per_peer: usize,
    /// EXCHANGE_LIFETIME: how long a received message ID is remembered for deduplication.
    pub exchange_lifetime: Duration,
    /// How long to wait for a separate response (after an empty ACK) or for the response
    /// to a NON request before failing the request with a timeout.
    pub response_timeout: Duration,
    /// Most message IDs remembered for deduplication; the oldest are forgotten first.
    pub dedup_capacity: usize,
    /// Largest message the endpoint encodes.
    pub max_message_size: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            nstart: 1,
            max_queued_per_peer: 256,
            exchange_lifetime: Duration::from_secs(247),
            response_timeout: Duration::from_secs(93),
            dedup_capacity: 4096,
            max_message_size: 1152 + 128,
        }
    }
}

impl EndpointConfig {
    /// MAX_TRANSMIT_WAIT: the longest a CON sender waits for an ACK (RFC 7252 §4.8.2).
    pub fn max_transmit_wait(&self) -> Duration {
        let factor = (1u64 << (self.max_retransmit + 1)) - 1;
        self.ack_timeout
            .mul_f64(factor as f64 * self.ack_random_factor)
    }
}
