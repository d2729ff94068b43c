//! The entry point of the `device_datagram` fuzz target (and of the seed replay test): one
//! datagram through the CoAP message layer into a simulated device and back out.

use std::net::SocketAddr;

use coap_lite::{MessageClass, MessageType, Packet};
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event};
use tokio::time::Instant;

use crate::device::{Device, DeviceSpec};
use crate::observe::{self, Observations, ObserveRequest};

/// Feeds `datagram` to a fresh device behind a CoAP endpoint, answers every request it
/// yields, and checks the message layer's contract:
/// - every datagram the endpoint sends decodes again;
/// - a confirmable message gets exactly one ACK or RST, with its message ID, before anything
///   else, and a piggy-backed response carries the request's token;
/// - a message that is not confirmable is never acknowledged.
///
/// Returns the datagrams sent in answer (the immediate ones, then an hour of notifications),
/// or the violated invariant; a panic anywhere is a failure too.
pub fn device_datagram(datagram: &[u8]) -> Result<Vec<Packet>, String> {
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
    // Also hand the raw packet to a second device directly, bypassing the message layer's
    // checks (a second one, so that the answers below are those of a fresh device).
    if let Ok(packet) = Packet::from_bytes(datagram) {
        let _ = Device::new(&spec, now).handle_request(now, &packet);
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
    let mut answers = Vec::new();
    while let Some(transmit) = endpoint.poll_transmit() {
        answers.push(decode(&transmit.bytes)?);
    }
    check_acknowledgement(datagram, &answers)?;
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
        answers.push(decode(&transmit.bytes)?);
    }
    Ok(answers)
}

fn decode(bytes: &[u8]) -> Result<Packet, String> {
    Packet::from_bytes(bytes)
        .map_err(|error| format!("the endpoint sent an undecodable datagram: {error:?}"))
}

/// The acknowledgement rules of RFC 7252 §4.2-4.3 for one received datagram and the
/// datagrams sent at once in answer.
fn check_acknowledgement(datagram: &[u8], answers: &[Packet]) -> Result<(), String> {
    let Ok(received) = Packet::from_bytes(datagram) else {
        // Undecodable: at most an RST (when the header was readable as CON), never an ACK.
        return match answers {
            [] => Ok(()),
            [rst] if rst.header.get_type() == MessageType::Reset => Ok(()),
            other => Err(format!("an undecodable datagram got {other:?}")),
        };
    };
    let mid = received.header.message_id;
    let acknowledgements: Vec<&Packet> = answers
        .iter()
        .filter(|p| {
            matches!(
                p.header.get_type(),
                MessageType::Acknowledgement | MessageType::Reset
            ) && p.header.message_id == mid
        })
        .collect();
    match received.header.get_type() {
        MessageType::Confirmable => {
            let [ack] = acknowledgements.as_slice() else {
                return Err(format!(
                    "a CON (mid {mid}) got {} ACK/RST: {answers:?}",
                    acknowledgements.len()
                ));
            };
            if !std::ptr::eq(*ack, &answers[0]) {
                return Err(format!(
                    "the ACK/RST of mid {mid} is not the first datagram"
                ));
            }
            let piggy_backed = ack.header.get_type() == MessageType::Acknowledgement
                && matches!(ack.header.code, MessageClass::Response(_));
            if piggy_backed && ack.get_token() != received.get_token() {
                return Err(format!(
                    "a piggy-backed response carries token {:?} for a request with {:?}",
                    ack.get_token(),
                    received.get_token()
                ));
            }
            Ok(())
        }
        _ if answers
            .iter()
            .any(|p| p.header.get_type() == MessageType::Acknowledgement) =>
        {
            Err(format!(
                "a message that is not CON was acknowledged: {answers:?}"
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// What each shipped seed must be answered: the response code of the first response
    /// sent, and a fragment its payload must contain (empty: anything).
    const EXPECTED: [(&str, &str, &[u8]); 22] = [
        ("block1-firmware-first", "2.31", b""),
        // Block 3 of the selected file, which is empty on a fresh device: beyond the end.
        ("block2-file", "4.02", b""),
        ("create-senml-json-sub", "2.01", b""),
        ("create-tlv-3303", "2.01", b""),
        ("delete-instance", "2.02", b""),
        ("discover-gateway", "2.05", b"</25/0>"),
        ("empty-con-ping", "RST", b""),
        ("get-device-manufacturer", "2.05", b"fleetbench"),
        ("get-instance-tlv", "2.05", b""),
        ("get-subdevice-senml", "2.05", b"5700"),
        ("light-on-partial-write", "2.04", b""),
        ("non-get-unknown-path", "4.04", b""),
        ("observe-clock", "2.05", b""),
        ("observe-temperature", "2.05", b""),
        // Write-Attributes (gt, st) on the resource a later observation would use.
        ("observe-with-gt-st", "2.04", b""),
        ("post-exec-reboot", "2.04", b""),
        ("post-tlv-bad", "4.00", b""),
        ("pull-uri", "2.04", b""),
        ("put-lifetime-text", "2.04", b""),
        ("put-write-attributes", "2.04", b""),
        ("security-read", "4.01", b""),
        ("truncated", "none", b""),
    ];

    /// `2.05`, `RST` or `none` for the first answer.
    fn first_answer(answers: &[Packet]) -> (String, Vec<u8>) {
        let Some(first) = answers.first() else {
            return ("none".to_owned(), Vec::new());
        };
        if first.header.get_type() == MessageType::Reset {
            return ("RST".to_owned(), Vec::new());
        }
        let n = u8::from(first.header.code);
        let code = format!("{}.{:02}", n >> 5, n & 0x1f);
        (code, first.payload.clone())
    }

    /// Replays the seeds shipped in `fuzz-seeds/device_datagram/`: each is answered as its
    /// name promises, and every seed is in the table.
    #[test]
    fn seeds_get_the_answers_their_names_promise() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-seeds/device_datagram");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let table: Vec<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(
            names, table,
            "every seed has an expected answer, and only those"
        );
        for (name, code, fragment) in EXPECTED {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let answers = device_datagram(&bytes).unwrap_or_else(|why| panic!("{name}: {why}"));
            let (got, payload) = first_answer(&answers);
            assert_eq!(got, code, "{name}: {answers:?}");
            if name.starts_with("observe-") && code == "2.05" {
                assert!(
                    answers.len() >= 2,
                    "{name}: an hour of an observation notifies: {answers:?}"
                );
            }
            assert!(
                payload
                    .windows(fragment.len().max(1))
                    .any(|w| w == fragment)
                    || fragment.is_empty(),
                "{name}: payload {:?} lacks {:?}",
                String::from_utf8_lossy(&payload),
                String::from_utf8_lossy(fragment)
            );
        }
    }

    #[test]
    fn the_acknowledgement_check_catches_a_missing_or_wrong_ack() {
        let mut request = Packet::new();
        request.header.set_type(MessageType::Confirmable);
        request.header.code = MessageClass::Request(coap_lite::RequestType::Get);
        request.header.message_id = 7;
        request.set_token(vec![1, 2]);
        let bytes = request.to_bytes().unwrap();
        assert!(check_acknowledgement(&bytes, &[]).is_err(), "no ACK");
        let mut ack = Packet::new();
        ack.header.set_type(MessageType::Acknowledgement);
        ack.header.code = MessageClass::Response(coap_lite::ResponseType::Content);
        ack.header.message_id = 7;
        ack.set_token(vec![1, 2]);
        assert_eq!(
            check_acknowledgement(&bytes, std::slice::from_ref(&ack)),
            Ok(())
        );
        let mut wrong_token = ack.clone();
        wrong_token.set_token(vec![9]);
        assert!(check_acknowledgement(&bytes, &[wrong_token]).is_err());
        let mut wrong_mid = ack.clone();
        wrong_mid.header.message_id = 8;
        assert!(check_acknowledgement(&bytes, &[wrong_mid]).is_err());
        assert!(
            check_acknowledgement(&bytes, &[ack.clone(), ack]).is_err(),
            "two ACKs"
        );
    }
}
