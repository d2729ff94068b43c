//! The datagram transport seam.
//!
//! Devices and the LwM2M server send datagrams only through [`DatagramTransport`]. It is
//! implemented for tokio's UDP socket and for [`MemorySocket`], a socket of an in-memory
//! [`MemoryNetwork`] (no kernel, no real time: virtual-time runs use it).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

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

/// Most datagrams queued for one [`MemorySocket`]; more are dropped, as a full UDP receive
/// buffer would drop them.
pub const MEMORY_QUEUE_CAPACITY: usize = 4096;

type Queue = mpsc::Sender<(Vec<u8>, SocketAddr)>;

/// An in-memory datagram network: sockets bound on it reach each other by address, with no
/// delay and no loss except a full receive queue ([`MEMORY_QUEUE_CAPACITY`]). Datagrams to
/// an address nobody holds are dropped, as UDP drops them. Cloning shares the network.
#[derive(Debug, Clone, Default)]
pub struct MemoryNetwork {
    sockets: Arc<Mutex<HashMap<SocketAddr, Queue>>>,
    dropped: Arc<AtomicU64>,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `addr` (port 0 is refused: addresses are chosen by the caller, so that they
    /// are the same in every run). `AddrInUse` when a live socket holds it.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<MemorySocket> {
        if addr.port() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("in-memory bind {addr}: give a port (0 is not chosen for you)"),
            ));
        }
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if sockets.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("in-memory bind {addr}: address in use"),
            ));
        }
        let (sender, receiver) = mpsc::channel(MEMORY_QUEUE_CAPACITY);
        sockets.insert(addr, sender);
        Ok(MemorySocket {
            addr,
            network: self.clone(),
            receiver: tokio::sync::Mutex::new(receiver),
        })
    }

    /// Datagrams dropped so far (no socket at the address, or its queue full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn deliver(&self, datagram: &[u8], from: SocketAddr, to: SocketAddr) {
        let queue = self
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&to)
            .cloned();
        let delivered = queue.is_some_and(|q| q.try_send((datagram.to_vec(), from)).is_ok());
        if !delivered {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A socket of a [`MemoryNetwork`]; unbinds its address when dropped.
#[derive(Debug)]
pub struct MemorySocket {
    addr: SocketAddr,
    network: MemoryNetwork,
    receiver: tokio::sync::Mutex<mpsc::Receiver<(Vec<u8>, SocketAddr)>>,
}

impl Drop for MemorySocket {
    fn drop(&mut self) {
        self.network
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.addr);
    }
}

impl DatagramTransport for MemorySocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    fn send_to(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        self.network.deliver(datagram, self.addr, peer);
        let len = datagram.len();
        async move { Ok(len) }
    }

    async fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut receiver = self.receiver.lock().await;
        match receiver.recv().await {
            Some((datagram, from)) => {
                // Like UDP: a datagram longer than the buffer is truncated.
                let len = datagram.len().min(buffer.len());
                buffer[..len].copy_from_slice(&datagram[..len]);
                Ok((len, from))
            }
            None => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the in-memory network is gone",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], port))
    }

    #[tokio::test]
    async fn datagrams_reach_the_bound_address_with_their_sender() {
        let network = MemoryNetwork::new();
        let a = network.bind(addr(1, 1000)).unwrap();
        let b = network.bind(addr(2, 2000)).unwrap();
        assert_eq!(a.send_to(b"hello", addr(2, 2000)).await.unwrap(), 5);
        let mut buffer = [0u8; 16];
        let (len, from) = b.recv_from(&mut buffer).await.unwrap();
        assert_eq!((&buffer[..len], from), (&b"hello"[..], addr(1, 1000)));
        assert_eq!(network.dropped(), 0);
    }

    #[tokio::test]
    async fn unbound_addresses_and_full_queues_drop_and_count() {
        let network = MemoryNetwork::new();
        let a = network.bind(addr(1, 1000)).unwrap();
        a.send_to(b"x", addr(9, 9)).await.unwrap();
        assert_eq!(network.dropped(), 1);
        let b = network.bind(addr(2, 2000)).unwrap();
        for _ in 0..MEMORY_QUEUE_CAPACITY + 3 {
            a.send_to(b"y", addr(2, 2000)).await.unwrap();
        }
        assert_eq!(network.dropped(), 4);
        drop(b);
        a.send_to(b"z", addr(2, 2000)).await.unwrap();
        assert_eq!(network.dropped(), 5, "a dropped socket unbinds its address");
    }

    #[test]
    fn binding_twice_or_port_zero_is_refused() {
        let network = MemoryNetwork::new();
        let _a = network.bind(addr(1, 1000)).unwrap();
        let again = network.bind(addr(1, 1000)).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        let zero = network.bind(addr(1, 0)).unwrap_err();
        assert_eq!(zero.kind(), io::ErrorKind::InvalidInput);
    }
}
