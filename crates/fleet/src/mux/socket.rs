//! One shared, wildcard-bound UDP socket: batched reception with the destination address of
//! each datagram (`recvmmsg` + `IP_PKTINFO`), and sending with a chosen source address
//! (`sendmsg` + `IP_PKTINFO`). `quinn-udp` does the control-message work.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use fleetbench_lwm2m::transport::MAX_DATAGRAM;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;

use super::demux::{DemuxTable, Route};
use crate::driver::Shared;
use crate::stats::FleetCounters;

/// After a receive error the socket is not read again for this long, so that a persistent
/// error cannot spin the task.
const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// A wildcard-bound UDP socket shared by many devices.
#[derive(Debug)]
pub struct MuxSocket {
    io: tokio::net::UdpSocket,
    state: UdpSocketState,
}

impl MuxSocket {
    /// Binds `address` (normally `0.0.0.0:0`) and turns on `IP_PKTINFO`. Needs a tokio
    /// runtime.
    pub fn bind(address: SocketAddr) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(address)?;
        let state = UdpSocketState::new((&socket).into())?;
        let io = tokio::net::UdpSocket::from_std(socket)?;
        Ok(Self { io, state })
    }

    /// The bound address (its port is every served device's port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// Sends `datagram` to `peer` from `source` (a local address, on loopback any
    /// 127.0.0.0/8 address) and this socket's port.
    pub async fn send_from(
        &self,
        source: Ipv4Addr,
        datagram: &[u8],
        peer: SocketAddr,
    ) -> io::Result<usize> {
        let transmit = Transmit {
            destination: peer,
            ecn: None,
            contents: datagram,
            segment_size: None,
            src_ip: Some(source.into()),
        };
        self.io
            .async_io(Interest::WRITABLE, || {
                self.state.try_send((&self.io).into(), &transmit)
            })
            .await?;
        Ok(datagram.len())
    }

    /// Receives up to `buffers.len()` datagram buffers in one system call; `metas[i]`
    /// describes `buffers[i]` (sender, length, destination address, GRO stride).
    pub async fn recv_batch(
        &self,
        buffers: &mut [IoSliceMut<'_>],
        metas: &mut [RecvMeta],
    ) -> io::Result<usize> {
        self.io
            .async_io(Interest::READABLE, || {
                self.state.recv((&self.io).into(), buffers, metas)
            })
            .await
    }
}

/// Reads `socket` until the task is aborted, handing each datagram to its device through
/// `table`; datagrams for unknown addresses and for full inboxes are dropped and counted.
pub async fn run_demux(socket: Arc<MuxSocket>, table: Arc<DemuxTable>, shared: Arc<Shared>) {
    let batch = quinn_udp::BATCH_SIZE.max(1);
    let slot = MAX_DATAGRAM;
    // Pages are touched only as far as datagrams fill them.
    let mut storage = vec![0u8; batch * slot];
    let mut metas = vec![RecvMeta::default(); batch];
    let counters = &shared.counters;
    loop {
        let received = {
            let mut buffers: Vec<IoSliceMut<'_>> =
                storage.chunks_mut(slot).map(IoSliceMut::new).collect();
            socket.recv_batch(&mut buffers, &mut metas).await
        };
        match received {
            Ok(count) => {
                for (meta, buffer) in metas.iter().zip(storage.chunks(slot)).take(count) {
                    let filled = buffer.get(..meta.len).unwrap_or(buffer);
                    table.deliver_segments(meta.dst_ip, meta.addr, filled, meta.stride, |route| {
                        count_route(counters, route);
                    });
                }
            }
            Err(_) => {
                FleetCounters::bump(&counters.socket_errors);
                tokio::time::sleep(RECEIVE_ERROR_PAUSE).await;
            }
        }
    }
}

fn count_route(counters: &FleetCounters, route: Route) {
    match route {
        Route::Delivered => {}
        Route::UnknownDestination => FleetCounters::bump(&counters.unknown_destination),
        Route::InboxFull => FleetCounters::bump(&counters.inbox_overflows),
    }
}
