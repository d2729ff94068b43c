//! Serving the server's requests: the behaviour profile's fate (drop, injected error, delay),
//! the device's answer, Observe registration and cancellation, notifications, and the side
//! effects of answered requests.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::coap::ExchangeId;
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::time::Instant;

use super::{DelayedReply, DeviceDriver, MAX_DELAYED_REPLIES, SEPARATE_RESPONSE_THRESHOLD};
use crate::device::{DeviceAction, message};
use crate::observe::{self, Notification, ObserveRequest};
use crate::profile::Disposition;
use crate::stats::FleetCounters;

impl<T: DatagramTransport> DeviceDriver<T> {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        peer: SocketAddr,
        packet: &Packet,
    ) {
        let counters = &self.shared.counters;
        FleetCounters::bump(&counters.requests_received);
        match self.behaviour.decide() {
            Disposition::NoReply => {
                FleetCounters::bump(&counters.requests_dropped);
                self.endpoint.abandon(exchange);
            }
            Disposition::Fail { code, delay } => {
                FleetCounters::bump(&counters.errors_injected);
                let response = message::empty(code);
                self.schedule(now, delay, exchange, response, None);
            }
            Disposition::Answer { delay } => {
                let mut reply = self.device.handle_request(now, packet);
                let is_get = packet.header.code == MessageClass::Request(RequestType::Get);
                if is_get {
                    self.observe(now, peer, packet, &mut reply.response);
                } else {
                    // Writes, executes, creates and deletes may change observed values.
                    self.observations.values_changed();
                }
                self.schedule(now, delay, exchange, reply.response, reply.action);
            }
        }
    }

    /// Registers or cancels an observation for a GET with an Observe option.
    fn observe(&mut self, now: Instant, peer: SocketAddr, request: &Packet, response: &mut Packet) {
        match observe::observe_request(request) {
            ObserveRequest::None => {}
            ObserveRequest::Deregister => {
                self.observations.cancel(peer, request.get_token());
            }
            ObserveRequest::Register => {
                if message::response_code(response) != Some(ResponseType::Content) {
                    return;
                }
                if let Some(sequence) =
                    self.observations
                        .register(now, peer, request, response, &mut self.device)
                {
                    observe::set_observe(response, sequence);
                }
            }
        }
    }

    /// Sends one notification (or the error that ends an observation).
    pub(super) fn notify(&mut self, now: Instant, notification: Notification) {
        let Notification {
            peer,
            token,
            response,
            confirmable,
        } = notification;
        if self
            .endpoint
            .send_notification(now, peer, &token, response, confirmable)
            .is_ok()
        {
            let counters = &self.shared.counters;
            FleetCounters::bump(&counters.notifications_sent);
            if confirmable {
                FleetCounters::bump(&counters.notifications_confirmable);
            }
        }
    }

    pub(super) fn schedule(
        &mut self,
        now: Instant,
        delay: Duration,
        exchange: ExchangeId,
        response: Packet,
        action: Option<DeviceAction>,
    ) {
        if delay.is_zero() {
            self.replies_to_measure.push((now, delay));
            self.respond(now, exchange, response, action);
            return;
        }
        if self.delayed.len() >= MAX_DELAYED_REPLIES {
            FleetCounters::bump(&self.shared.counters.overload_rejections);
            let busy = message::empty(ResponseType::ServiceUnavailable);
            self.respond(now, exchange, busy, None);
            return;
        }
        if delay >= SEPARATE_RESPONSE_THRESHOLD {
            self.endpoint.accept_later(exchange);
        }
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.delayed.push(Reverse(DelayedReply {
            at: now + delay,
            arrived: now,
            intended: delay,
            sequence,
            exchange,
            response,
            action,
        }));
    }

    pub(super) fn respond(
        &mut self,
        now: Instant,
        exchange: ExchangeId,
        response: Packet,
        action: Option<DeviceAction>,
    ) {
        self.endpoint.respond(now, exchange, response);
        FleetCounters::bump(&self.shared.counters.requests_answered);
        let Some(action) = action else {
            return;
        };
        let stopping = self.stopping_deadline.is_some();
        match action {
            DeviceAction::Reboot if !stopping => self.reboot(now),
            DeviceAction::Reboot | DeviceAction::SubDeviceReboot(_) => {}
            DeviceAction::FirmwareUpdate { sub_device: None } => {
                if stopping {
                    self.device.finish_firmware_update(None);
                    FleetCounters::bump(&self.shared.counters.firmware_updates);
                } else {
                    self.reboot(now);
                }
            }
            DeviceAction::FirmwareUpdate {
                sub_device: Some(index),
            } => {
                // The sub-device installs while the gateway stays up.
                let at = now + self.behaviour.profile().reboot_downtime;
                self.installs.push((at, index));
            }
            DeviceAction::RegistrationUpdate => self.registration.trigger_update(now),
            DeviceAction::ObjectsChanged => self.registration.objects_changed(now),
            DeviceAction::LifetimeChanged(lifetime) => {
                self.registration.set_lifetime(now, lifetime);
            }
            DeviceAction::DownloadFirmware { sub_device, uri } => {
                self.start_download(now, sub_device, &uri);
            }
            DeviceAction::CancelDownload { sub_device } => self.cancel_download(now, sub_device),
        }
    }

    /// Sub-device firmware installs that are due: finish them. Returns whether any was.
    pub(super) fn finish_installs(&mut self, now: Instant) -> bool {
        let mut finished = false;
        while let Some(position) = self.installs.iter().position(|(at, _)| *at <= now) {
            let (_, index) = self.installs.swap_remove(position);
            self.device.finish_firmware_update(Some(index));
            FleetCounters::bump(&self.shared.counters.firmware_updates);
            self.observations.values_changed();
            finished = true;
        }
        finished
    }
}
