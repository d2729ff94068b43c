//! Binding one UDP socket per device, spread over local addresses. When an address runs out
//! of ephemeral ports (or reaches the configured cap of sockets per address), loopback
//! addresses continue on further 127.0.0.x addresses.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::UdpSocket;

use crate::FleetError;

/// The highest last octet used for automatic 127.0.0.x addresses.
const LAST_AUTO_OCTET: u8 = 254;

/// Hands out sockets round-robin over a list of local addresses.
#[derive(Debug)]
pub struct SocketBinder {
    ips: Vec<IpAddr>,
    counts: Vec<usize>,
    cap: Option<usize>,
    cursor: usize,
    next_auto: u8,
}

impl SocketBinder {
    /// A binder over `ips` (127.0.0.1 when empty).
    pub fn new(ips: &[IpAddr]) -> Self {
        let ips = if ips.is_empty() {
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        } else {
            ips.to_vec()
        };
        Self {
            counts: vec![0; ips.len()],
            ips,
            cap: None,
            cursor: 0,
            next_auto: 2,
        }
    }

    /// At most `cap` sockets per address (`None`: as many as the OS allows).
    pub fn with_cap(mut self, cap: Option<usize>) -> Self {
        self.cap = cap.filter(|c| *c > 0);
        self
    }

    /// The addresses in use now.
    pub fn ips(&self) -> &[IpAddr] {
        &self.ips
    }

    /// Binds the next socket on an ephemeral port.
    pub async fn bind_next(&mut self) -> Result<UdpSocket, FleetError> {
        let slot = self.cursor % self.ips.len();
        self.cursor = self.cursor.wrapping_add(1);
        // Bounded: each retry consumes one automatic address.
        for _ in 0..=LAST_AUTO_OCTET {
            let addr = SocketAddr::new(self.ips[slot], 0);
            if self.cap.is_some_and(|cap| self.counts[slot] >= cap) {
                let full = std::io::Error::new(
                    ErrorKind::AddrNotAvailable,
                    "the configured max_sockets_per_ip is reached",
                );
                self.move_slot(slot, addr, full)?;
                continue;
            }
            match UdpSocket::bind(addr).await {
                Ok(socket) => {
                    self.counts[slot] += 1;
                    return Ok(socket);
                }
                Err(error) if out_of_ports(&error) => self.move_slot(slot, addr, error)?,
                Err(error) => {
                    return Err(FleetError::Bind {
                        addr,
                        source: error,
                    });
                }
            }
        }
        Err(FleetError::Bind {
            addr: SocketAddr::new(self.ips[slot], 0),
            source: std::io::Error::from(ErrorKind::AddrInUse),
        })
    }

    /// Moves `slot` to the next automatic loopback address, or fails with `error` when
    /// `addr` is not loopback or the addresses ran out.
    fn move_slot(
        &mut self,
        slot: usize,
        addr: SocketAddr,
        error: std::io::Error,
    ) -> Result<(), FleetError> {
        if !addr.ip().is_loopback() {
            return Err(FleetError::Bind {
                addr,
                source: error,
            });
        }
        match self.next_auto_address() {
            Some(ip) => {
                tracing::info!(exhausted = %addr.ip(), next = %ip, "moving device sockets to another loopback address");
                self.ips[slot] = ip;
                self.counts[slot] = 0;
                Ok(())
            }
            None => Err(FleetError::Bind {
                addr,
                source: error,
            }),
        }
    }

    fn next_auto_address(&mut self) -> Option<IpAddr> {
        while self.next_auto <= LAST_AUTO_OCTET {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, self.next_auto));
            self.next_auto += 1;
            if !self.ips.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }
}

fn out_of_ports(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spreads_round_robin_over_addresses() {
        let ips = [
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        ];
        let mut binder = SocketBinder::new(&ips);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(binder.bind_next().await.unwrap().local_addr().unwrap().ip());
        }
        assert_eq!(got, [ips[0], ips[1], ips[0], ips[1]]);
    }

    #[tokio::test]
    async fn a_cap_per_address_moves_to_further_loopback_addresses() {
        let mut binder = SocketBinder::new(&[]).with_cap(Some(2));
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(binder.bind_next().await.unwrap().local_addr().unwrap().ip());
        }
        let ip = |last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last));
        assert_eq!(got, [ip(1), ip(1), ip(2), ip(2), ip(3)]);
        // When the automatic addresses run out, the error names the full address.
        let mut binder = SocketBinder::new(&[]).with_cap(Some(1));
        binder.next_auto = LAST_AUTO_OCTET + 1;
        binder.bind_next().await.unwrap();
        let error = binder.bind_next().await.unwrap_err();
        assert!(error.to_string().contains("127.0.0.1"), "{error}");
    }

    #[test]
    fn automatic_addresses_skip_configured_ones() {
        let mut binder = SocketBinder::new(&[IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]);
        assert_eq!(
            binder.next_auto_address(),
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        );
        binder.next_auto = LAST_AUTO_OCTET;
        assert!(binder.next_auto_address().is_some());
        assert_eq!(binder.next_auto_address(), None);
    }

    #[tokio::test]
    async fn non_local_address_fails_with_the_address() {
        // TEST-NET-1 is never assigned to this host.
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let error = SocketBinder::new(&[ip]).bind_next().await.unwrap_err();
        assert!(error.to_string().contains("192.0.2.1"), "{error}");
    }
}
