//! Link impairment tests over an in-memory transport, under tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use tokio::sync::{Mutex as AsyncMutex, mpsc};

use super::*;

type Datagram = (Vec<u8>, SocketAddr);

/// One end of an in-memory link: what it sends goes to `out`, it receives from `incoming`.
struct Memory {
    local: SocketAddr,
    out: mpsc::UnboundedSender<Datagram>,
    incoming: AsyncMutex<mpsc::UnboundedReceiver<Datagram>>,
}

impl DatagramTransport for Memory {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn send_to(
        &self,
        datagram: &[u8],
        _peer: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        let result = self
            .out
            .send((datagram.to_vec(), self.local))
            .map(|()| datagram.len())
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe));
        std::future::ready(result)
    }

    async fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (bytes, from) = self
            .incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Ok((copy_out(buffer, &bytes), from))
    }
}

struct Harness {
    device: ImpairedTransport<Memory>,
    to_device: mpsc::UnboundedSender<Datagram>,
    from_device: mpsc::UnboundedReceiver<Datagram>,
    shared: Arc<Shared>,
}

fn harness(link: LinkProfile, seed: u64) -> Harness {
    let (to_device, incoming) = mpsc::unbounded_channel();
    let (out, from_device) = mpsc::unbounded_channel();
    let memory = Memory {
        local: "127.0.0.1:40000".parse().unwrap(),
        out,
        incoming: AsyncMutex::new(incoming),
    };
    let shared = Arc::new(Shared::new());
    Harness {
        device: ImpairedTransport::new(memory, link, seed, Arc::clone(&shared)),
        to_device,
        from_device,
        shared,
    }
}

fn server() -> SocketAddr {
    "127.0.0.1:5683".parse().unwrap()
}

fn impairment(loss: f64, duplicate: f64, reorder: f64) -> LinkImpairment {
    LinkImpairment {
        loss,
        duplicate,
        reorder,
        reorder_delay: Duration::from_millis(100),
    }
}

/// Sends `count` numbered datagrams up and collects what arrives within a second.
async fn uplink(harness: &mut Harness, count: u32) -> Vec<u32> {
    for n in 0..count {
        harness
            .device
            .send_to(&n.to_be_bytes(), server())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut got = Vec::new();
    while let Ok((bytes, _)) = harness.from_device.try_recv() {
        got.push(u32::from_be_bytes(bytes.try_into().unwrap()));
    }
    got
}

/// Sends `count` numbered datagrams down and collects what the device reads.
async fn downlink(harness: &mut Harness, count: u32) -> Vec<u32> {
    for n in 0..count {
        harness
            .to_device
            .send((n.to_be_bytes().to_vec(), server()))
            .unwrap();
    }
    let mut got = Vec::new();
    let mut buffer = [0u8; 16];
    while let Ok(Ok((length, from))) = tokio::time::timeout(
        Duration::from_secs(1),
        harness.device.recv_from(&mut buffer),
    )
    .await
    {
        assert_eq!(from, server());
        got.push(u32::from_be_bytes(buffer[..length].try_into().unwrap()));
    }
    got
}

#[tokio::test(start_paused = true)]
async fn a_perfect_link_changes_nothing() {
    let mut h = harness(LinkProfile::default(), 1);
    assert_eq!(uplink(&mut h, 50).await, (0..50).collect::<Vec<_>>());
    assert_eq!(downlink(&mut h, 50).await, (0..50).collect::<Vec<_>>());
    assert_eq!(h.shared.counters.snapshot().datagrams_lost, 0);
}

#[tokio::test(start_paused = true)]
async fn loss_drops_about_the_ratio_in_each_direction_independently() {
    let link = LinkProfile {
        uplink: impairment(0.3, 0.0, 0.0),
        downlink: LinkImpairment::default(),
    };
    let mut h = harness(link, 2);
    let up = uplink(&mut h, 1000).await;
    assert!((600..800).contains(&up.len()), "{}", up.len());
    assert!(up.windows(2).all(|w| w[0] < w[1]), "order kept");
    assert_eq!(downlink(&mut h, 100).await.len(), 100, "downlink untouched");
    let lost = h.shared.counters.snapshot().datagrams_lost;
    assert_eq!(lost as usize, 1000 - up.len());
}

#[tokio::test(start_paused = true)]
async fn duplication_delivers_copies_right_after_the_original() {
    let link = LinkProfile {
        uplink: impairment(0.0, 0.5, 0.0),
        downlink: impairment(0.0, 0.5, 0.0),
    };
    let mut h = harness(link, 3);
    let down = downlink(&mut h, 200).await;
    let copies = down.len() - 200;
    assert!((60..140).contains(&copies), "{copies}");
    let mut dedup = down.clone();
    dedup.dedup();
    assert_eq!(dedup, (0..200).collect::<Vec<_>>());
    let up = uplink(&mut h, 200).await;
    assert!(up.len() > 250, "{}", up.len());
}

#[tokio::test(start_paused = true)]
async fn reordering_holds_some_back_but_delivers_everything() {
    let link = LinkProfile {
        uplink: impairment(0.0, 0.0, 0.3),
        downlink: impairment(0.0, 0.0, 0.3),
    };
    let mut h = harness(link.clone(), 4);
    let down = downlink(&mut h, 40).await;
    let mut sorted = down.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>(), "nothing lost");
    assert_ne!(down, sorted, "some overtaken");
    let up = uplink(&mut h, 40).await;
    let mut sorted = up.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..40).collect::<Vec<_>>());
    assert_ne!(up, sorted);
    assert!(h.shared.counters.snapshot().datagrams_reordered > 0);
    // The same seed impairs the same way.
    let mut again = harness(link, 4);
    assert_eq!(downlink(&mut again, 40).await, down);
}

#[tokio::test(start_paused = true)]
async fn the_reorder_buffer_is_bounded() {
    let link = LinkProfile {
        uplink: LinkImpairment::default(),
        downlink: LinkImpairment {
            reorder: 1.0,
            reorder_delay: Duration::from_secs(3600),
            ..LinkImpairment::default()
        },
    };
    let mut h = harness(link, 5);
    // Everything would be held for up to an hour, but only MAX_HELD can wait: the rest pass.
    let down = downlink(&mut h, 100).await;
    assert_eq!(down.len(), 100 - MAX_HELD);
    assert_eq!(
        h.shared.counters.snapshot().datagrams_reordered,
        MAX_HELD as u64
    );
}
