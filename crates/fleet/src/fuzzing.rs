//! The entry point of the `device_datagram` fuzz target (and of the seed replay test): one
//! datagram through the CoAP message layer into a simulated device and back out.

use std::net::SocketAddr;

use coap_lite::Packet;
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event};
use tokio::time::Instant;

use crate::device::{Device, DeviceSpec};
use crate::observe::{self, Observations, ObserveRequest};

/// Feeds `datagram` to a fresh device behind a CoAP endpoint, answers every request it
/// yields, and checks that every datagram the endpoint sends decodes again. Returns the
/// violated invariant, if any; a panic anywhere is a failure too.
pub fn device_datagram(datagram: &[u8]) -> Result<(), String> {
    let now = Instant::now();
    let peer = SocketAddr::from(([127, 0, 0, 1], 5683));
    let spec = DeviceSpec {
        endpoint: "fuzz".to_owned(),
        seed: 1,
        lifetime: std::time::Duration::from_secs(60),
        sub_devices: 2,
        ..DeviceSpec::default()
    };
    let mut device = Device::new(&spec, now);
    let mut endpoint = Endpoint::new(EndpointConfig::default(), 1);
    endpoint.receive(now, peer, datagram);
    // Also hand the raw packet to the device directly, bypassing the message layer's checks.
    if let Ok(packet) = Packet::from_bytes(datagram) {
        let _ = device.handle_request(now, &packet);
    }
    let mut observations = Observations::new();
    while let Some(event) = endpoint.poll_event() {
        if let Event::Request {
            exchange,
            packet,
            peer,
        } = event
        {
            let mut reply = device.handle_request(now, &packet);
            if observe::observe_request(&packet) == ObserveRequest::Register
                && let Some(sequence) =
                    observations.register(now, peer, &packet, &reply.response, &mut device)
            {
                observe::set_observe(&mut reply.response, sequence);
            }
            observations.values_changed();
            endpoint.respond(now, exchange, reply.response);
        }
    }
    // Let an hour pass for the observations: every notification must encode too.
    let later = now + std::time::Duration::from_secs(3600);
    for notification in observations.poll(later, &mut device) {
        let _ = endpoint.send_notification(
            later,
            notification.peer,
            &notification.token,
            notification.response,
            notification.confirmable,
        );
    }
    while let Some(transmit) = endpoint.poll_transmit() {
        Packet::from_bytes(&transmit.bytes)
            .map_err(|error| format!("the endpoint sent an undecodable datagram: {error:?}"))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Replays the seeds shipped in `fuzz-seeds/device_datagram/`.
    #[test]
    fn seeds_pass() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-seeds/device_datagram");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(device_datagram(&bytes), Ok(()), "{}", path.display());
            count += 1;
        }
        assert!(count >= 5, "only {count} seeds in {}", dir.display());
    }
}
