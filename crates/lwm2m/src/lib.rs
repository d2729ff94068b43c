//! The LwM2M and CoAP protocol for fleetbench.
//!
//! This crate knows nothing of REST or scenarios. It holds:
//! - [`coap`]: the RFC 7252 message layer on top of `coap-lite` (message IDs, tokens,
//!   CON retransmission, duplicate detection, piggy-backed and separate responses, RST),
//!   written sans-IO: it is fed datagrams and `now`, and hands back datagrams to send.
//! - [`transport`]: the datagram transport seam (tokio UDP, and an in-memory network for
//!   virtual-time runs).
//! - [`clock`]: the clock seam.
//! - LwM2M [`registration`] messages, [`path`]s, [`value`]s and the content-format codecs
//!   ([`codec`], [`link_format`]), and the [`block`] option codec.

pub mod block;
pub mod block_upload;
pub mod clock;
pub mod coap;
pub mod codec;
pub mod content_format;
pub mod link_format;
pub mod packets;
pub mod path;
pub mod registration;
pub mod transport;
pub mod value;

pub use coap_lite;
