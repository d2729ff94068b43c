//! A bounded number of slots handed out round robin over source addresses: each source with
//! waiting claims gets the next free slot in turn, whatever the length of its own queue.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::store::lock;

/// Slots shared fairly between sources.
#[derive(Debug)]
pub struct FairSlots {
    limit: usize,
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Slots held now.
    held: usize,
    /// Sources with waiting claims, in turn order.
    turns: VecDeque<SocketAddr>,
    /// Waiting claims per source, oldest first.
    waiting: HashMap<SocketAddr, VecDeque<oneshot::Sender<Slot>>>,
}

/// One held slot; dropping it hands the slot to the next source in turn.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<FairSlots>,
    armed: bool,
}

impl FairSlots {
    /// At most `limit` (at least 1) slots held at once.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            queue: Mutex::new(Queue::default()),
        }
    }

    /// Waits for a slot on behalf of `source`. `None` only if the slots were torn down.
    /// Dropping the future gives up the claim (a slot handed to it meanwhile is passed on).
    pub async fn acquire(self: &Arc<Self>, source: SocketAddr) -> Option<Slot> {
        let receiver = {
            let mut queue = lock(&self.queue);
            if queue.held < self.limit && queue.turns.is_empty() {
                queue.held += 1;
                return Some(self.slot());
            }
            let (sender, receiver) = oneshot::channel();
            let queue = &mut *queue;
            let claims = queue.waiting.entry(source).or_default();
            if claims.is_empty() {
                queue.turns.push_back(source);
            }
            claims.push_back(sender);
            receiver
        };
        receiver.await.ok()
    }

    /// Claims waiting now (including ones whose waiter has gone but which were not yet
    /// skipped).
    pub fn waiting(&self) -> usize {
        lock(&self.queue).waiting.values().map(VecDeque::len).sum()
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        lock(&self.queue).held
    }

    fn slot(self: &Arc<Self>) -> Slot {
        Slot {
            slots: Arc::clone(self),
            armed: true,
        }
    }

    /// A held slot was released: hand it to the next live claim in turn, or free it.
    fn release(self: &Arc<Self>) {
        loop {
            let next = {
                let mut queue = lock(&self.queue);
                match queue.next_claim() {
                    Some(sender) => sender,
                    None => {
                        queue.held = queue.held.saturating_sub(1);
                        return;
                    }
                }
            };
            // Sent outside the lock: a failed send drops the slot, which must not release
            // again while the queue is locked.
            match next.send(self.slot()) {
                Ok(()) => return,
                Err(mut unsent) => unsent.armed = false,
            }
        }
    }
}

impl Queue {
    /// The oldest live claim of the source whose turn it is; the source goes to the back of
    /// the turn order when it still has claims.
    fn next_claim(&mut self) -> Option<oneshot::Sender<Slot>> {
        while let Some(source) = self.turns.pop_front() {
            let Some(claims) = self.waiting.get_mut(&source) else {
                continue;
            };
            let mut found = None;
            while let Some(sender) = claims.pop_front() {
                if !sender.is_closed() {
                    found = Some(sender);
                    break;
                }
            }
            if claims.is_empty() {
                self.waiting.remove(&source);
            } else {
                self.turns.push_back(source);
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            self.slots.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn free_slots_go_round_robin_over_sources() {
        let slots = Arc::new(FairSlots::new(1));
        let held = slots.acquire(addr(1)).await.unwrap();
        let mut flood: Vec<_> = (0..5).map(|_| Box::pin(slots.acquire(addr(1)))).collect();
        for claim in &mut flood {
            assert!(futures_util::poll!(claim.as_mut()).is_pending());
        }
        let mut fair = Box::pin(slots.acquire(addr(2)));
        assert!(futures_util::poll!(fair.as_mut()).is_pending());
        assert_eq!(slots.waiting(), 6);

        drop(held);
        let first = flood.remove(0).await.unwrap();
        assert!(futures_util::poll!(fair.as_mut()).is_pending());
        drop(first);
        // Source 2 has its turn before source 1's four other claims.
        let fair = fair.await.unwrap();
        for claim in &mut flood {
            assert!(futures_util::poll!(claim.as_mut()).is_pending());
        }
        drop(fair);
        assert_eq!(slots.held(), 1);
    }

    #[tokio::test]
    async fn abandoned_claims_are_skipped_and_slots_freed() {
        let slots = Arc::new(FairSlots::new(2));
        let a = slots.acquire(addr(1)).await.unwrap();
        let b = slots.acquire(addr(1)).await.unwrap();
        let mut gone = Box::pin(slots.acquire(addr(3)));
        assert!(futures_util::poll!(gone.as_mut()).is_pending());
        let mut live = Box::pin(slots.acquire(addr(4)));
        assert!(futures_util::poll!(live.as_mut()).is_pending());
        drop(gone);
        drop(a);
        let live = live.await.unwrap();
        assert_eq!(slots.held(), 2);
        drop(live);
        drop(b);
        assert_eq!(slots.held(), 0);
        assert_eq!(slots.waiting(), 0);
        assert!(slots.acquire(addr(5)).await.is_some());
    }
}
