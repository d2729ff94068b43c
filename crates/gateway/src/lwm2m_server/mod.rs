//! The LwM2M server: registrations over CoAP/UDP and the [`DeviceLink`] over them.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::engine::{
    DeviceLink, DeviceOperation, DeviceRoute, LinkError, Observation, OperationOutcome,
};
use crate::state::GatewayState;
use fleetbench_lwm2m::path::Lwm2mPath;

/// The running LwM2M server.
#[derive(Debug)]
pub struct Lwm2mServer {
    local_addr: SocketAddr,
    _socket: tokio::net::UdpSocket,
}

/// The link over the server.
#[derive(Debug, Clone)]
pub struct CoapLink;

impl Lwm2mServer {
    /// Binds the UDP socket.
    pub async fn bind(
        addr: SocketAddr,
        state: Arc<GatewayState>,
        seed: u64,
    ) -> std::io::Result<Self> {
        let _ = (state, seed);
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        Ok(Self {
            local_addr: socket.local_addr()?,
            _socket: socket,
        })
    }

    /// The link.
    pub fn link(&self) -> CoapLink {
        CoapLink
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops.
    pub async fn shutdown(self) {}
}

impl DeviceLink for CoapLink {
    async fn execute(
        &self,
        target: &DeviceRoute,
        _operation: DeviceOperation,
    ) -> Result<OperationOutcome, LinkError> {
        Err(LinkError::NotRegistered {
            endpoint: target.endpoint.clone(),
        })
    }

    async fn observe(
        &self,
        target: &DeviceRoute,
        _path: Lwm2mPath,
    ) -> Result<Observation, LinkError> {
        Err(LinkError::NotRegistered {
            endpoint: target.endpoint.clone(),
        })
    }
}
