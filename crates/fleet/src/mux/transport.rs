//! A device's handle on a shared socket: its own address, its inbox, the shared sender.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;

use fleetbench_lwm2m::transport::DatagramTransport;

use super::inbox::Inbox;
use super::socket::MuxSocket;

/// The [`DatagramTransport`] of one device in the multiplexed mode.
#[derive(Debug, Clone)]
pub struct MuxTransport {
    local: SocketAddrV4,
    inbox: Arc<Inbox>,
    socket: Arc<MuxSocket>,
}

impl MuxTransport {
    /// A device at `local` (its own IP, the shared socket's port) reading `inbox` and
    /// sending through `socket`.
    pub fn new(local: SocketAddrV4, inbox: Arc<Inbox>, socket: Arc<MuxSocket>) -> Self {
        Self {
            local,
            inbox,
            socket,
        }
    }
}

impl DatagramTransport for MuxTransport {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.local))
    }

    async fn send_to(&self, datagram: &[u8], peer: SocketAddr) -> io::Result<usize> {
        self.socket
            .send_from(*self.local.ip(), datagram, peer)
            .await
    }

    async fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        Ok(self.inbox.recv(buffer).await)
    }
}
