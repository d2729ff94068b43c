//! The values an [`Endpoint`](super::Endpoint) hands to and takes from its driver.

use std::net::SocketAddr;

use coap_lite::Packet;

/// Identifies a request this endpoint sent (client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

/// Identifies a request this endpoint received and has not answered yet (server side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeId(pub(crate) u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub peer: SocketAddr,
    /// The encoded CoAP message.
    pub bytes: Vec<u8>,
    /// Set on the first transmission of one of our requests (after any NSTART queueing),
    /// never on retransmissions: lets a driver note when a request first went on the wire.
    pub first_of: Option<RequestId>,
}

impl Transmit {
    /// A datagram that is not the first transmission of a request.
    pub fn new(peer: SocketAddr, bytes: Vec<u8>) -> Self {
        Self {
            peer,
            bytes,
            first_of: None,
        }
    }
}

/// How a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOptions {
    /// Send as CON (retransmitted until acknowledged) or NON.
    pub confirmable: bool,
    /// Keep the token open after the first response, so that every Observe notification
    /// arrives as an [`Event::Response`] for the same request until it is cancelled.
    /// An Observe option with value 0 is added when the request has none.
    pub observe: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            confirmable: true,
            observe: false,
        }
    }
}

/// Why a request ended without a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// No ACK after MAX_RETRANSMIT retransmissions, or no separate/NON response in time.
    Timeout,
    /// The peer answered with RST.
    Reset,
    /// The per-peer queue (NSTART) was full.
    Overloaded,
    /// The request could not be encoded (for example, too large).
    Encode(String),
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("no response from the device (CoAP timeout)"),
            Self::Reset => f.write_str("the device rejected the message (CoAP RST)"),
            Self::Overloaded => f.write_str("too many requests queued for this device"),
            Self::Encode(reason) => write!(f, "the request could not be encoded: {reason}"),
        }
    }
}

/// Something that happened on the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new (deduplicated) request. Answer it with
    /// [`Endpoint::respond`](super::Endpoint::respond).
    Request {
        /// The handle to answer with.
        exchange: ExchangeId,
        /// Who sent it.
        peer: SocketAddr,
        /// The request.
        packet: Packet,
    },
    /// A response (or Observe notification) to one of our requests.
    Response {
        /// Our request.
        request: RequestId,
        /// Who answered.
        peer: SocketAddr,
        /// The response.
        packet: Packet,
    },
    /// One of our requests ended without a response.
    Failed {
        /// Our request.
        request: RequestId,
        /// The peer it was for.
        peer: SocketAddr,
        /// Why.
        reason: FailureReason,
    },
    /// A notification we sent was rejected with RST or never acknowledged: the observer
    /// with this token is gone (RFC 7641 §3.6, §4.5).
    NotificationRejected {
        /// The observer.
        peer: SocketAddr,
        /// The observation's token.
        token: Vec<u8>,
    },
}

/// Counters of protocol events, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// CON retransmissions sent.
    pub retransmissions: u64,
    /// Duplicate messages received (and answered from the cache or ignored).
    pub duplicates: u64,
    /// Datagrams that were not valid CoAP.
    pub malformed: u64,
    /// RST messages sent.
    pub resets_sent: u64,
    /// Requests that failed with a timeout.
    pub timeouts: u64,
}
