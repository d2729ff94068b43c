//! The datagram transport seam.
//!
//! Devices and the LwM2M server send datagrams only through [`DatagramTransport`]. It is
//! implemented for tokio's UDP socket now; an in-memory simulated network can implement it
//! later without changes to the code above it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

/// Largest datagram fleetbench reads (the UDP maximum payload).
pub const MAX_DATAGRAM: usize = 65_535;

/// A connectionless, unreliable datagram transport.
pub trait DatagramTransport: Send + Sync + 'static {
    /// The local address datagrams are sent from.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Sends one datagram to `peer`.
    fn send_to(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Receives one datagram into `buffer`, returning its length and sender.
    fn recv_from(
        &self,
        buffer: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
}

impl DatagramTransport for tokio::net::UdpSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }

    fn send_to(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        tokio::net::UdpSocket::send_to(self, datagram, peer)
    }

    fn recv_from(
        &self,
        buffer: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        tokio::net::UdpSocket::recv_from(self, buffer)
    }
}
