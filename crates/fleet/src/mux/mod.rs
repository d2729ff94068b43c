//! Addresses, not sockets: the multiplexed socket layer.
//!
//! A few UDP sockets bound to the wildcard address serve every device. Each device keeps its
//! own source address `127.a.b.c:port` ([`address_plan`]): on loopback every 127.0.0.0/8
//! address is local, so a datagram sent to a device's address reaches the wildcard socket,
//! whose `IP_PKTINFO` control message names the destination; the [`demux`] table hands it
//! to that device's [`inbox`]. Replies leave through the same socket with `IP_PKTINFO`
//! setting the device's address as the source ([`socket`]). Reception is batched
//! (`recvmmsg`, via `quinn-udp`).
//!
//! Each device still owns its CoAP endpoint and driver: it sees a [`MuxTransport`], a
//! [`DatagramTransport`](fleetbench_lwm2m::transport::DatagramTransport) whose receive side
//! is its inbox and whose send side is the shared socket. To a peer, each device is an
//! independent endpoint with its own address.

pub mod address_plan;
pub mod demux;
pub mod inbox;
pub mod socket;
pub mod transport;

pub use demux::{DemuxTable, Route};
pub use inbox::Inbox;
pub use socket::MuxSocket;
pub use transport::MuxTransport;
