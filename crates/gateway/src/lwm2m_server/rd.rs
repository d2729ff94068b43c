//! The Registration interface (OMA LwM2M 1.1 Core §6.2) on the server side: Register
//! (`POST /rd?ep=..`), Update (`POST /rd/<id>`), De-register (`DELETE /rd/<id>`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetbench_lwm2m::coap::service::{CoapClient, IncomingRequest};
use fleetbench_lwm2m::coap_lite::{CoapOption, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::link_format::{self, Link};
use fleetbench_lwm2m::packets::{content_format, method, new_response, uri_path, uri_query};
use fleetbench_lwm2m::registration::{RegistrationError, RegistrationParams, UpdateParams};

use super::discovery::{Discoveries, lists_gateway_object};
use super::rate_limit::RateLimiter;
use super::registry::{Found, Liveness, Reachability, Registration, Registry};
use super::transfer::BLOCK_SIZE;
use crate::model::{Lwm2mRegistration, Timestamp};
use crate::state::GatewayState;
use fleetbench_lwm2m::block::BlockOption;

/// Lifetime when Register gives none (LwM2M default).
pub const DEFAULT_LIFETIME: u32 = 86_400;

/// Longest accepted endpoint name, in bytes.
pub const MAX_ENDPOINT: usize = 255;

/// Handles registration-interface requests.
#[derive(Debug, Clone)]
pub struct RdHandler {
    /// Shared state.
    pub state: Arc<GatewayState>,
    /// Live registrations.
    pub registry: Arc<Registry>,
    /// For `/25` discovery.
    pub client: CoapClient,
    /// Slack after a lifetime before the registration lapses.
    pub grace: Duration,
    /// Bounds concurrent `/25` discoveries.
    pub discoveries: Arc<Discoveries>,
    /// Registers per source address.
    pub limiter: Arc<RateLimiter>,
    /// Largest Register or Update payload in bytes.
    pub max_payload: usize,
}

fn answer(code: ResponseType, diagnostic: impl Into<String>) -> Packet {
    let mut packet = new_response(code);
    packet.payload = diagnostic.into().into_bytes();
    packet
}

impl RdHandler {
    /// Answers one request.
    pub fn handle(&self, request: IncomingRequest) {
        let response = self.route(request.peer, &request.packet);
        request.respond(response);
    }

    fn route(&self, peer: SocketAddr, packet: &Packet) -> Packet {
        let path = uri_path(packet);
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        match (method(packet), segments.as_slice()) {
            (Some(RequestType::Post), ["rd"]) => self.register(peer, packet),
            (Some(RequestType::Post), ["rd", location]) => self.update(peer, packet, location),
            (Some(RequestType::Delete), ["rd", location]) => self.deregister(peer, location),
            (Some(RequestType::Get), ["files", token]) => self.serve_file(packet, token),
            (Some(_), ["rd", ..]) => answer(
                ResponseType::MethodNotAllowed,
                "the registration interface takes POST /rd, POST /rd/<id> and DELETE /rd/<id>",
            ),
            _ => answer(
                ResponseType::NotFound,
                format!("no resource /{} on the LwM2M server", path.join("/")),
            ),
        }
    }

    fn reject(&self, code: ResponseType, diagnostic: String) -> Packet {
        self.state
            .metrics
            .registrations_rejected
            .fetch_add(1, Ordering::Relaxed);
        answer(code, diagnostic)
    }

    /// 4.13 when the payload is larger than the bound.
    fn check_payload(&self, packet: &Packet) -> Result<(), Packet> {
        if packet.payload.len() > self.max_payload {
            return Err(self.reject(
                ResponseType::RequestEntityTooLarge,
                format!(
                    "registration payload is {} bytes: at most {} are accepted",
                    packet.payload.len(),
                    self.max_payload
                ),
            ));
        }
        Ok(())
    }

    fn register(&self, peer: SocketAddr, packet: &Packet) -> Packet {
        if !self.limiter.allow(peer, self.state.clock.now()) {
            self.state
                .metrics
                .registrations_rate_limited
                .fetch_add(1, Ordering::Relaxed);
            return answer(
                ResponseType::TooManyRequests,
                "too many Registers from this address: retry later",
            );
        }
        if let Err(refusal) = self.check_payload(packet) {
            return refusal;
        }
        if let Some(bad) = packet
            .get_option(CoapOption::UriQuery)
            .into_iter()
            .flatten()
            .find(|query| std::str::from_utf8(query).is_err())
        {
            let shown = String::from_utf8_lossy(&bad[..bad.len().min(64)]).into_owned();
            return self.reject(
                ResponseType::BadRequest,
                format!("registration query {shown:?} is not valid UTF-8"),
            );
        }
        let params = match RegistrationParams::from_query(&uri_query(packet)) {
            Ok(params) => params,
            Err(error @ RegistrationError::UnsupportedVersion(_)) => {
                return self.reject(ResponseType::PreconditionFailed, error.to_string());
            }
            Err(error) => return self.reject(ResponseType::BadRequest, error.to_string()),
        };
        if params.endpoint.len() > MAX_ENDPOINT || params.endpoint.chars().any(char::is_control) {
            return self.reject(ResponseType::BadRequest, format!("registration parameter `ep` is {:?}: at most {MAX_ENDPOINT} bytes, no control characters", params.endpoint));
        }
        let lifetime = params.lifetime.unwrap_or(DEFAULT_LIFETIME);
        if lifetime == 0 {
            return self.reject(
                ResponseType::BadRequest,
                "registration parameter `lt` is \"0\": must be positive".to_owned(),
            );
        }
        let (objects, links) = match parse_links(packet, true) {
            Ok(parsed) => parsed,
            Err(diagnostic) => return self.reject(ResponseType::BadRequest, diagnostic),
        };
        let state = &self.state;
        let now = state.clock.now();
        let lifetime = Duration::from_secs(u64::from(lifetime));
        let expires_at = now + lifetime + self.grace;
        let at = Timestamp::new(state.clock.utc(now));
        let record = Lwm2mRegistration {
            endpoint: params.endpoint.clone(),
            prefix: None,
            registration_id: None,
            address: Some(peer.to_string()),
            lifetime: Some(lifetime.as_secs()),
            binding: params.binding.clone(),
            lwm2m_version: params.version.clone(),
            queue_mode: params.queue_mode,
            objects,
            registered_at: Some(at),
            last_update_at: Some(at),
            expires_at: Some(Timestamp::new(state.clock.utc(expires_at))),
        };
        let device_id = match state.devices.upsert_registered(&state.ids, record, at) {
            Ok(id) => id,
            Err(error) => {
                state
                    .metrics
                    .registrations_refused_full
                    .fetch_add(1, Ordering::Relaxed);
                return answer(ResponseType::ServiceUnavailable, error.to_string());
            }
        };
        if let Some(old) = self.registry.by_endpoint(&params.endpoint)
            && old.peer() != peer
        {
            state
                .metrics
                .registrations_taken_over
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                endpoint = %params.endpoint,
                old = %old.peer(),
                new = %peer,
                "a Register from another address replaces the registration (no security: as Leshan does)"
            );
        }
        let registration = self.registry.register(
            &params.endpoint,
            device_id,
            Reachability {
                peer,
                lifetime,
                expires_at,
            },
        );
        let location = registration.location.clone();
        state.devices.touch(
            &device_id,
            |r| r.registration_id = Some(format!("rd/{location}")),
            at,
        );
        state.metrics.registrations.fetch_add(1, Ordering::Relaxed);
        self.spawn_discovery(registration, &links);
        let mut response = new_response(ResponseType::Created);
        response.add_option(CoapOption::LocationPath, b"rd".to_vec());
        response.add_option(CoapOption::LocationPath, location.into_bytes());
        response
    }

    /// The registration at `location` if `peer` registered it; else the 4.04 to send.
    /// A request from another address gets the same answer as an unknown location, so it
    /// learns nothing (and a device whose address changed registers again).
    fn own_registration(
        &self,
        peer: SocketAddr,
        location: &str,
    ) -> Result<Arc<Registration>, Packet> {
        match self.registry.by_location_from(location, peer) {
            Found::Yours(registration) => Ok(registration),
            found => {
                if matches!(found, Found::Foreign) {
                    self.state
                        .metrics
                        .registrations_foreign
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "Update or De-register from another address than the registration's: refused with 4.04");
                }
                Err(answer(
                    ResponseType::NotFound,
                    format!("no registration rd/{location} for {peer}: register again"),
                ))
            }
        }
    }

    fn update(&self, peer: SocketAddr, packet: &Packet, location: &str) -> Packet {
        let registration = match self.own_registration(peer, location) {
            Ok(registration) => registration,
            Err(refusal) => return refusal,
        };
        if let Err(refusal) = self.check_payload(packet) {
            return refusal;
        }
        let params = match UpdateParams::from_query(&uri_query(packet)) {
            Ok(params) => params,
            Err(error) => return self.reject(ResponseType::BadRequest, error.to_string()),
        };
        if params.lifetime == Some(0) {
            return self.reject(
                ResponseType::BadRequest,
                "update parameter `lt` is \"0\": must be positive".to_owned(),
            );
        }
        let parsed = if packet.payload.is_empty() {
            None
        } else {
            match parse_links(packet, false) {
                Ok(parsed) => Some(parsed),
                Err(diagnostic) => return self.reject(ResponseType::BadRequest, diagnostic),
            }
        };
        let state = &self.state;
        let now = state.clock.now();
        let (lifetime, expires_at) = {
            let mut reach = crate::store::lock(&registration.reach);
            reach.peer = peer;
            if let Some(lifetime) = params.lifetime {
                reach.lifetime = Duration::from_secs(u64::from(lifetime));
            }
            reach.expires_at = now + reach.lifetime + self.grace;
            (reach.lifetime, reach.expires_at)
        };
        let at = Timestamp::new(state.clock.utc(now));
        let objects = parsed.as_ref().map(|(objects, _)| objects.clone());
        state.devices.touch(
            &registration.device_id,
            |r| {
                r.address = Some(peer.to_string());
                r.lifetime = Some(lifetime.as_secs());
                if let Some(binding) = &params.binding {
                    r.binding = Some(binding.clone());
                }
                if let Some(objects) = objects {
                    r.objects = objects;
                }
                r.last_update_at = Some(at);
                r.expires_at = Some(Timestamp::new(state.clock.utc(expires_at)));
            },
            at,
        );
        state
            .metrics
            .registration_updates
            .fetch_add(1, Ordering::Relaxed);
        if let Some((_, links)) = parsed {
            self.spawn_discovery(registration, &links);
        }
        new_response(ResponseType::Changed)
    }

    fn deregister(&self, peer: SocketAddr, location: &str) -> Packet {
        if let Err(refusal) = self.own_registration(peer, location) {
            return refusal;
        }
        let Some(registration) = self.registry.remove(location, Liveness::Deregistered) else {
            return answer(
                ResponseType::NotFound,
                format!("no registration rd/{location}"),
            );
        };
        self.state
            .devices
            .set_active(&registration.device_id, false, self.state.now());
        self.state
            .metrics
            .deregistrations
            .fetch_add(1, Ordering::Relaxed);
        new_response(ResponseType::Deleted)
    }

    /// `GET /files/<token>` [extension]: a stored file, block-wise (Block2, stateless
    /// slices), so that devices can pull software packages. The token is minted per
    /// software_update target (see [`crate::store::downloads`]); file ids open nothing.
    fn serve_file(&self, packet: &Packet, token: &str) -> Packet {
        let now = self.state.clock.now();
        let Some(file) = self
            .state
            .downloads
            .file(token, now)
            .and_then(|oid| self.state.files.get(&oid))
        else {
            return answer(
                ResponseType::NotFound,
                "no download with that token: tokens are issued per software_update command",
            );
        };
        let asked = match packet
            .get_first_option(CoapOption::Block2)
            .map(|value| BlockOption::decode(value))
        {
            None => None,
            Some(Ok(block)) => Some(block),
            Some(Err(error)) => return answer(ResponseType::BadOption, format!("Block2: {error}")),
        };
        let size = asked.map_or(BLOCK_SIZE, |block| block.size().min(BLOCK_SIZE));
        let num = asked.map_or(0, |block| block.num);
        let offset = num as usize * size;
        if offset > file.data.len() || (offset == file.data.len() && offset > 0) {
            return answer(
                ResponseType::BadOption,
                format!(
                    "Block2 block {num} is past the end of the {}-byte file",
                    file.data.len()
                ),
            );
        }
        let end = (offset + size).min(file.data.len());
        let mut response = new_response(ResponseType::Content);
        fleetbench_lwm2m::packets::set_content_format(
            &mut response,
            ContentFormat::Opaque.number(),
        );
        if file.data.len() > size || asked.is_some() {
            let more = end < file.data.len();
            match BlockOption::new(num, more, size) {
                Ok(block) => response.add_option(CoapOption::Block2, block.encode()),
                Err(error) => return answer(ResponseType::BadOption, format!("Block2: {error}")),
            }
            if num == 0 {
                let length = u32::try_from(file.data.len())
                    .unwrap_or(u32::MAX)
                    .to_be_bytes();
                let first = length
                    .iter()
                    .position(|byte| *byte != 0)
                    .unwrap_or(length.len());
                response.add_option(CoapOption::Size2, length[first..].to_vec());
            }
        }
        response.payload = file.data[offset..end].to_vec();
        self.state
            .metrics
            .file_blocks_served
            .fetch_add(1, Ordering::Relaxed);
        response
    }

    fn spawn_discovery(&self, registration: Arc<Registration>, links: &[Link]) {
        registration
            .lists_gateway_object
            .store(lists_gateway_object(links), Ordering::Relaxed);
        self.discoveries
            .spawn(self.state.clone(), self.client.clone(), registration);
    }
}

/// Checks Content-Format 40 and parses the object links; returns the text and the links.
fn parse_links(packet: &Packet, required: bool) -> Result<(String, Vec<Link>), String> {
    if let Some(format) = content_format(packet)
        && format != ContentFormat::LinkFormat.number()
    {
        return Err(format!(
            "registration payload has Content-Format {format}: expected 40 (application/link-format)"
        ));
    }
    let text = std::str::from_utf8(&packet.payload)
        .map_err(|e| format!("registration payload is not UTF-8: {e}"))?;
    if text.trim().is_empty() {
        return if required {
            Err("registration payload is empty: expected the object links".to_owned())
        } else {
            Ok((String::new(), Vec::new()))
        };
    }
    let links = link_format::parse(text).map_err(|e| format!("registration payload: {e}"))?;
    Ok((text.to_owned(), links))
}
