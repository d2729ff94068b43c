//! Fuzz target `mux_demux`: drives the multiplexed mode's demultiplexer
//! (`fleetbench_fleet::mux::DemuxTable`) with arbitrary destination addresses, GRO strides
//! and payloads, and crashes when a datagram is lost without being counted or lands in a
//! device it was not addressed to (a panic inside crashes too).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use fleetbench_fleet::mux::{DemuxTable, Inbox, Route, address_plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&devices, mut rest)) = data.split_first() else {
        return;
    };
    let devices = usize::from(devices % 8) + 1;
    let mut table = DemuxTable::new();
    let mut inboxes = Vec::new();
    for index in 0..devices {
        let Some(ip) = address_plan::endpoint_ip(index) else {
            return;
        };
        let inbox = Arc::new(Inbox::new());
        assert!(table.insert(ip, Arc::clone(&inbox)));
        inboxes.push((ip, inbox));
    }
    let from = SocketAddr::from(([127, 0, 0, 1], 5683));
    let mut delivered = vec![0usize; devices];
    // Records: [destination selector, stride, length, payload...].
    while let [selector, stride, length, tail @ ..] = rest {
        let length = usize::from(*length).min(tail.len());
        let (buffer, next) = tail.split_at(length);
        rest = next;
        let destination = match selector % 4 {
            0 => None,
            1 => Some(IpAddr::V4(Ipv4Addr::new(127, 1, 0, *selector))),
            _ => inboxes
                .get(usize::from(*selector) % devices)
                .map(|(ip, _)| IpAddr::V4(*ip)),
        };
        let target = inboxes
            .iter()
            .position(|(ip, _)| destination == Some(IpAddr::V4(*ip)));
        let mut outcomes = 0usize;
        table.deliver_segments(destination, from, buffer, usize::from(*stride), |route| {
            outcomes += 1;
            match (route, target) {
                (Route::Delivered, Some(index)) => delivered[index] += 1,
                (Route::Delivered, None) => panic!("delivered to no known device"),
                (Route::InboxFull, None) => panic!("a full inbox for an unknown address"),
                (Route::UnknownDestination, Some(_)) => panic!("a known address was unknown"),
                _ => {}
            }
        });
        assert!(outcomes >= 1, "a datagram vanished without an outcome");
    }
    for ((_, inbox), count) in inboxes.iter().zip(&delivered) {
        assert_eq!(inbox.len(), *count, "an inbox holds what was delivered to it");
    }
});
