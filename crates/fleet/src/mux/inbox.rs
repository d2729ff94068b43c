//! One device's bounded queue of received datagrams, filled by the demultiplexer and
//! drained by the device's transport handle.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Most datagrams one inbox holds; beyond it the demultiplexer drops and counts them (a
/// device that does not read is like a full socket buffer).
pub const INBOX_CAPACITY: usize = 64;

/// A received datagram waiting for its device.
#[derive(Debug)]
struct Queued {
    bytes: Box<[u8]>,
    from: SocketAddr,
}

/// A bounded single-consumer datagram queue. Empty, it holds no heap memory.
#[derive(Debug, Default)]
pub struct Inbox {
    queue: Mutex<VecDeque<Queued>>,
    ready: Notify,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a copy of `datagram` from `from`; `false` (and nothing queued) when the inbox
    /// already holds [`INBOX_CAPACITY`] datagrams.
    pub fn push(&self, datagram: &[u8], from: SocketAddr) -> bool {
        {
            let mut queue = self.lock();
            if queue.len() >= INBOX_CAPACITY {
                return false;
            }
            queue.push_back(Queued {
                bytes: datagram.into(),
                from,
            });
        }
        self.ready.notify_one();
        true
    }

    /// Datagrams waiting now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no datagram is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next datagram and copies it into `buffer` (truncated to the buffer, as
    /// a UDP socket does); returns the copied length and the sender. Cancel-safe: a datagram
    /// is taken from the queue only in the same step that returns it.
    pub async fn recv(&self, buffer: &mut [u8]) -> (usize, SocketAddr) {
        loop {
            if let Some(queued) = self.lock().pop_front() {
                let length = queued.bytes.len().min(buffer.len());
                if let (Some(target), Some(source)) =
                    (buffer.get_mut(..length), queued.bytes.get(..length))
                {
                    target.copy_from_slice(source);
                }
                return (length, queued.from);
            }
            self.ready.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        // A panic while holding the lock cannot leave the queue inconsistent (push_back and
        // pop_front are atomic for our purpose), so a poisoned lock is still usable.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5683))
    }

    #[tokio::test]
    async fn datagrams_come_out_in_order_and_truncated_to_the_buffer() {
        let inbox = Inbox::new();
        assert!(inbox.push(b"first", peer()));
        assert!(inbox.push(b"second", peer()));
        let mut buffer = [0u8; 3];
        assert_eq!(inbox.recv(&mut buffer).await, (3, peer()));
        assert_eq!(&buffer, b"fir");
        let mut buffer = [0u8; 16];
        let (length, _) = inbox.recv(&mut buffer).await;
        assert_eq!(&buffer[..length], b"second");
        assert!(inbox.is_empty());
    }

    #[test]
    fn a_full_inbox_refuses_more() {
        let inbox = Inbox::new();
        for _ in 0..INBOX_CAPACITY {
            assert!(inbox.push(b"x", peer()));
        }
        assert!(!inbox.push(b"x", peer()));
        assert_eq!(inbox.len(), INBOX_CAPACITY);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_push() {
        let inbox = std::sync::Arc::new(Inbox::new());
        let waiter = tokio::spawn({
            let inbox = std::sync::Arc::clone(&inbox);
            async move {
                let mut buffer = [0u8; 8];
                let (length, _) = inbox.recv(&mut buffer).await;
                buffer[..length].to_vec()
            }
        });
        tokio::task::yield_now().await;
        assert!(inbox.push(b"late", peer()));
        assert_eq!(waiter.await.unwrap(), b"late");
    }
}
