//! The demultiplexer: which device a datagram received on a shared socket is for. Sans-IO
//! (the socket task feeds it what `recvmmsg` returned), so that it can be tested and
//! fuzzed without sockets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::inbox::Inbox;

/// What became of one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Queued in its device's inbox.
    Delivered,
    /// No device has the destination address on this socket (or the destination was not
    /// reported): dropped.
    UnknownDestination,
    /// The device's inbox was full: dropped.
    InboxFull,
}

/// The devices served by one shared socket, by their own destination address.
#[derive(Debug, Default)]
pub struct DemuxTable {
    by_ip: HashMap<Ipv4Addr, Arc<Inbox>>,
}

impl DemuxTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `ip` with `inbox`; `false` (and the table unchanged) when `ip` is taken.
    pub fn insert(&mut self, ip: Ipv4Addr, inbox: Arc<Inbox>) -> bool {
        match self.by_ip.entry(ip) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(inbox);
                true
            }
        }
    }

    /// Devices served.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether no device is served.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Routes one datagram sent by `from` to `destination` (the `IP_PKTINFO` address).
    pub fn deliver(&self, destination: Option<IpAddr>, from: SocketAddr, datagram: &[u8]) -> Route {
        let Some(IpAddr::V4(ip)) = destination else {
            return Route::UnknownDestination;
        };
        match self.by_ip.get(&ip) {
            Some(inbox) if inbox.push(datagram, from) => Route::Delivered,
            Some(_) => Route::InboxFull,
            None => Route::UnknownDestination,
        }
    }

    /// Routes every datagram of one receive buffer: `stride` is the size of each datagram
    /// when the kernel coalesced several (UDP GRO); 0 or at least `buffer.len()` means one.
    /// `on_route` hears each outcome.
    pub fn deliver_segments(
        &self,
        destination: Option<IpAddr>,
        from: SocketAddr,
        buffer: &[u8],
        stride: usize,
        mut on_route: impl FnMut(Route),
    ) {
        for datagram in segments(buffer, stride) {
            on_route(self.deliver(destination, from, datagram));
        }
    }
}

/// The datagrams of a receive buffer whose datagrams are `stride` bytes each (the last may
/// be shorter); the whole buffer when `stride` is 0. An empty buffer is one empty datagram
/// (UDP allows them).
pub fn segments(buffer: &[u8], stride: usize) -> impl Iterator<Item = &[u8]> {
    let stride = if stride == 0 {
        buffer.len().max(1)
    } else {
        stride
    };
    let whole = buffer.is_empty().then_some(buffer);
    whole.into_iter().chain(buffer.chunks(stride))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5683))
    }

    #[tokio::test]
    async fn datagrams_reach_only_their_own_device() {
        let mut table = DemuxTable::new();
        let (a, b) = (Arc::new(Inbox::new()), Arc::new(Inbox::new()));
        let (ip_a, ip_b) = (Ipv4Addr::new(127, 1, 0, 1), Ipv4Addr::new(127, 1, 0, 2));
        assert!(table.insert(ip_a, Arc::clone(&a)));
        assert!(table.insert(ip_b, Arc::clone(&b)));
        assert!(
            !table.insert(ip_a, Arc::new(Inbox::new())),
            "duplicate address"
        );
        assert_eq!(
            table.deliver(Some(ip_a.into()), from(), b"for a"),
            Route::Delivered
        );
        assert_eq!(
            table.deliver(Some(ip_b.into()), from(), b"for b"),
            Route::Delivered
        );
        let mut buffer = [0u8; 16];
        let (length, _) = a.recv(&mut buffer).await;
        assert_eq!(&buffer[..length], b"for a");
        let (length, _) = b.recv(&mut buffer).await;
        assert_eq!(&buffer[..length], b"for b");
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn unknown_or_missing_destinations_are_dropped() {
        let mut table = DemuxTable::new();
        let inbox = Arc::new(Inbox::new());
        table.insert(Ipv4Addr::new(127, 1, 0, 1), Arc::clone(&inbox));
        let unknown = Some(IpAddr::from([127, 1, 0, 9]));
        assert_eq!(
            table.deliver(unknown, from(), b"x"),
            Route::UnknownDestination
        );
        assert_eq!(table.deliver(None, from(), b"x"), Route::UnknownDestination);
        let v6 = Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
        assert_eq!(table.deliver(v6, from(), b"x"), Route::UnknownDestination);
        assert!(inbox.is_empty());
    }

    #[test]
    fn a_full_inbox_is_reported() {
        let mut table = DemuxTable::new();
        let ip = Ipv4Addr::new(127, 1, 0, 1);
        table.insert(ip, Arc::new(Inbox::new()));
        let mut routes = Vec::new();
        for _ in 0..=super::super::inbox::INBOX_CAPACITY {
            routes.push(table.deliver(Some(ip.into()), from(), b"x"));
        }
        assert_eq!(routes.last(), Some(&Route::InboxFull));
        assert_eq!(
            routes.iter().filter(|r| **r == Route::Delivered).count(),
            super::super::inbox::INBOX_CAPACITY
        );
    }

    #[test]
    fn coalesced_buffers_split_at_the_stride() {
        let parts: Vec<&[u8]> = segments(b"aabbc", 2).collect();
        assert_eq!(parts, [&b"aa"[..], b"bb", b"c"]);
        let parts: Vec<&[u8]> = segments(b"abc", 0).collect();
        assert_eq!(parts, [&b"abc"[..]]);
        let parts: Vec<&[u8]> = segments(b"abc", 10).collect();
        assert_eq!(parts, [&b"abc"[..]]);
        assert_eq!(segments(b"", 4).count(), 1);
    }
}
