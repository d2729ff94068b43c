//! A multiplexed fleet's file descriptors do not grow with its size (its own test binary,
//! so that no other test opens descriptors meanwhile).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use fleetbench_fleet::limits::{FD_BUDGET, open_descriptors};
use fleetbench_fleet::{FleetConfig, SocketMode, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_devices_use_a_handful_of_descriptors() {
    // Nobody answers on this port: the devices keep trying to register, which is fine here.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server: SocketAddr = silent.local_addr().unwrap();
    let before = open_descriptors().unwrap();
    let fleet = start(FleetConfig {
        server,
        devices: 3_000,
        socket_mode: SocketMode::Multiplexed,
        multiplexed_sockets: Some(2),
        registration_spread: Duration::from_secs(60),
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    let after = open_descriptors().unwrap();
    assert!(
        after - before <= 2,
        "3000 devices opened {} descriptors",
        after - before
    );
    assert!(after < FD_BUDGET, "{after} descriptors open");
    let addresses: std::collections::HashSet<_> =
        (0..3_000).filter_map(|i| fleet.device_address(i)).collect();
    assert_eq!(addresses.len(), 3_000, "every device has its own address");
    drop(fleet);
}
