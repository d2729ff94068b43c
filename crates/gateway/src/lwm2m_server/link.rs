//! [`DeviceLink`] over the LwM2M server: each operation goes to the endpoint's registered
//! address, and fails at once if the registration ends while it is in flight.

use std::sync::Arc;

use bytes::Bytes;
use fleetbench_lwm2m::coap::service::CoapClient;
use fleetbench_lwm2m::coap_lite::RequestType;
use fleetbench_lwm2m::packets::{
    code_text, content_format, new_request, observe as observe_option, response_code,
};
use fleetbench_lwm2m::path::Lwm2mPath;

use super::registry::{Registration, Registry, ended};
use super::transfer::Peer;
use crate::engine::transmission;
use crate::engine::{
    DeviceLink, DeviceOperation, DeviceRoute, LinkError, Observation, OperationOutcome,
};

/// The engine's way to devices registered with this server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoapLink {
    client: CoapClient,
    registry: Arc<Registry>,
}

impl CoapLink {
    /// A link over `client` for the registrations in `registry`.
    pub fn new(client: CoapClient, registry: Arc<Registry>) -> Self {
        Self { client, registry }
    }

    fn registration(&self, route: &DeviceRoute) -> Result<Arc<Registration>, LinkError> {
        self.registry
            .by_endpoint(&route.endpoint)
            .ok_or_else(|| LinkError::NotRegistered {
                endpoint: route.endpoint.clone(),
            })
    }
}

impl DeviceLink for CoapLink {
    async fn execute(
        &self,
        target: &DeviceRoute,
        operation: DeviceOperation,
    ) -> Result<OperationOutcome, LinkError> {
        let registration = self.registration(target)?;
        let mut alive = registration.watch();
        let path = target.wire_path(operation.path());
        let addr = registration.peer();
        let peer = Peer {
            client: &self.client,
            addr,
            endpoint: &target.endpoint,
        };
        let work = async {
            match operation {
                DeviceOperation::Read { .. } => peer.read(&path).await,
                DeviceOperation::Write {
                    content_format,
                    payload,
                    ..
                } => {
                    peer.send(
                        RequestType::Put,
                        &path,
                        Some(content_format.number()),
                        &payload,
                    )
                    .await
                }
                DeviceOperation::Execute { arguments, .. } => {
                    let format = arguments.as_ref().map(|_| 0);
                    peer.send(
                        RequestType::Post,
                        &path,
                        format,
                        arguments.unwrap_or_default().as_bytes(),
                    )
                    .await
                }
            }
        };
        tokio::select! {
            result = work => result,
            how = ended(&mut alive) => Err(how.error(&target.endpoint)),
        }
    }

    async fn observe(
        &self,
        target: &DeviceRoute,
        path: Lwm2mPath,
    ) -> Result<Observation, LinkError> {
        let registration = self.registration(target)?;
        let mut alive = registration.watch();
        let wire = target.wire_path(&path);
        let addr = registration.peer();
        let peer = Peer {
            client: &self.client,
            addr,
            endpoint: &target.endpoint,
        };
        let request = new_request(RequestType::Get, &wire.segments());
        let started = async {
            let (first, notifications) = self
                .client
                .observe_probed(addr, request, transmission::current())
                .await
                .map_err(|e| peer.failure(e))?;
            let first = peer.check(first)?;
            if observe_option(&first).is_none() {
                return Err(LinkError::Rejected {
                    code: code_text(&first),
                    reason: "Content without Observe".to_owned(),
                    diagnostic: format!("the device does not let {wire} be observed"),
                });
            }
            Ok((first, notifications))
        };
        let (first, notifications) = tokio::select! {
            result = started => result?,
            how = ended(&mut alive) => return Err(how.error(&target.endpoint)),
        };
        let stream = futures_util::stream::unfold(
            (notifications, alive),
            |(mut notifications, mut alive)| async move {
                let packet = tokio::select! {
                    packet = notifications.next() => packet?,
                    _ = ended(&mut alive) => return None,
                };
                // An error response ends the observation (RFC 7641 §3.2).
                if response_code(&packet).is_none_or(|code| code.is_error()) {
                    return None;
                }
                let outcome = OperationOutcome {
                    code: code_text(&packet),
                    content_format: content_format(&packet),
                    payload: Bytes::from(packet.payload),
                };
                Some((outcome, (notifications, alive)))
            },
        );
        let first = OperationOutcome {
            code: code_text(&first),
            content_format: content_format(&first),
            payload: Bytes::from(first.payload),
        };
        Ok(Observation {
            first,
            notifications: Box::pin(stream),
        })
    }
}
