//! Completion by the gateway's event stream: one reader of the stream dispatches status
//! events to the command tasks waiting for them. Events that arrive before their command's
//! create call has returned are kept (bounded) until the task registers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::{EventItem, EventReceiver, StatusEvent};

/// Most commands with events kept before their task registered (oldest evicted first).
pub const MAX_EARLY_COMMANDS: usize = 65_536;
/// Most events kept per command; beyond, the command re-reads its state over HTTP.
pub const MAX_EVENTS_PER_COMMAND: usize = 256;

/// Re-reads per second after events were lost (`lagged`): the waiting commands re-read
/// their state one after the other at this rate instead of all at once.
pub const RESYNC_RATE: u32 = 1000;

/// Hands out re-read slots at a fixed rate (a token bucket of depth one), so that a
/// `lagged` event does not make every waiting command poll at once.
#[derive(Debug)]
pub struct ResyncLimiter {
    next: Mutex<Option<Instant>>,
    interval: std::time::Duration,
}

impl ResyncLimiter {
    /// At most `per_second` slots per second.
    pub fn new(per_second: u32) -> ResyncLimiter {
        ResyncLimiter {
            next: Mutex::new(None),
            interval: std::time::Duration::from_secs(1) / per_second.max(1),
        }
    }

    /// Reserves the next free slot: when the caller may re-read.
    pub fn reserve(&self) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }
}

/// A status event and when the runner read it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The event.
    pub event: StatusEvent,
    /// When it was read from the stream (runner clock).
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Slot {
    events: Vec<Received>,
    waiter: Option<Arc<Notify>>,
    /// Events may have been lost: the command must re-read its state.
    resync: bool,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<String, Slot>,
    early: VecDeque<String>,
    early_count: usize,
    down: Option<String>,
}

/// Counters of the event stream.
#[derive(Debug, Default)]
pub struct EventStats {
    /// Status events read.
    pub events: AtomicU64,
    /// Events the gateway reported as dropped for us (`lagged`).
    pub lagged: AtomicU64,
    /// Events for commands no task claimed before they were evicted.
    pub evicted: AtomicU64,
}

/// Dispatches the event stream to command tasks.
#[derive(Debug)]
pub struct EventHub {
    inner: Mutex<Inner>,
    stats: EventStats,
}

/// A command task's registration; dropping it forgets the command.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<EventHub>,
    id: String,
    notify: Arc<Notify>,
}

/// What a subscription has to tell.
#[derive(Debug, Default)]
pub struct Pending {
    /// New events, in stream order.
    pub events: Vec<Received>,
    /// Events may have been lost: re-read the command over HTTP.
    pub resync: bool,
    /// The stream is gone (with the reason): fall back to polling.
    pub down: Option<String>,
}

impl EventHub {
    /// A hub fed by `receiver`; the returned task ends when the stream does.
    pub fn start(receiver: EventReceiver) -> (Arc<EventHub>, JoinHandle<()>) {
        let hub = Arc::new(EventHub {
            inner: Mutex::new(Inner::default()),
            stats: EventStats::default(),
        });
        let task = tokio::spawn(Arc::clone(&hub).dispatch(receiver));
        (hub, task)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stream's counters.
    pub fn stats(&self) -> &EventStats {
        &self.stats
    }

    /// Why the stream is gone, if it is.
    pub fn down(&self) -> Option<String> {
        self.lock().down.clone()
    }

    async fn dispatch(self: Arc<Self>, mut receiver: EventReceiver) {
        while let Some(item) = receiver.recv().await {
            match item {
                EventItem::Status(event, at) => {
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    self.deliver(Received { event, at });
                }
                EventItem::Lagged(missed) => {
                    self.stats.lagged.fetch_add(missed, Ordering::Relaxed);
                    self.wake_all(|slot| slot.resync = true, None);
                }
                EventItem::Broken(reason) => {
                    self.wake_all(|_| {}, Some(reason));
                    return;
                }
            }
        }
        self.wake_all(|_| {}, Some("the event stream ended".to_owned()));
    }

    /// Hands one event to its command (or keeps it until the command registers).
    pub fn deliver(&self, received: Received) {
        let mut inner = self.lock();
        let id = received.event.command_id.clone();
        let inner = &mut *inner;
        let slot = match inner.slots.get_mut(&id) {
            Some(slot) => slot,
            None => {
                inner.early.push_back(id.clone());
                inner.early_count += 1;
                inner.slots.entry(id.clone()).or_default()
            }
        };
        if slot.events.len() >= MAX_EVENTS_PER_COMMAND {
            slot.events.clear();
            slot.resync = true;
        } else {
            slot.events.push(received);
        }
        if let Some(waiter) = &slot.waiter {
            waiter.notify_one();
        }
        self.evict(inner);
    }

    fn evict(&self, inner: &mut Inner) {
        while inner.early_count > MAX_EARLY_COMMANDS {
            let Some(id) = inner.early.pop_front() else {
                inner.early_count = 0;
                break;
            };
            if inner.slots.get(&id).is_some_and(|s| s.waiter.is_none()) {
                inner.slots.remove(&id);
                inner.early_count -= 1;
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Entries of commands that registered since stay in the queue; compact it now and
        // then so that it stays bounded.
        if inner.early.len() > 2 * MAX_EARLY_COMMANDS {
            let slots = &inner.slots;
            inner
                .early
                .retain(|id| slots.get(id).is_some_and(|s| s.waiter.is_none()));
            inner.early_count = inner.early.len();
        }
    }

    fn wake_all(&self, mark: impl Fn(&mut Slot), down: Option<String>) {
        let mut inner = self.lock();
        if down.is_some() && inner.down.is_none() {
            inner.down = down;
        }
        for slot in inner.slots.values_mut() {
            if let Some(waiter) = slot.waiter.clone() {
                mark(slot);
                waiter.notify_one();
            }
        }
    }

    /// Registers the task waiting for command `id`; events that came first are pending.
    pub fn register(self: &Arc<Self>, id: &str) -> Subscription {
        let notify = Arc::new(Notify::new());
        let mut inner = self.lock();
        if inner.slots.get(id).is_some_and(|s| s.waiter.is_none()) {
            inner.early_count = inner.early_count.saturating_sub(1);
        }
        let slot = inner.slots.entry(id.to_owned()).or_default();
        slot.waiter = Some(Arc::clone(&notify));
        if !slot.events.is_empty() || slot.resync {
            notify.notify_one();
        }
        drop(inner);
        Subscription {
            hub: Arc::clone(self),
            id: id.to_owned(),
            notify,
        }
    }
}

impl Subscription {
    /// Takes what arrived since the last call.
    pub fn take(&self) -> Pending {
        let mut inner = self.hub.lock();
        let down = inner.down.clone();
        match inner.slots.get_mut(&self.id) {
            Some(slot) => Pending {
                events: std::mem::take(&mut slot.events),
                resync: std::mem::take(&mut slot.resync),
                down,
            },
            None => Pending {
                down,
                ..Pending::default()
            },
        }
    }

    /// Waits until something arrives (or the stream goes down).
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().slots.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;

    fn event(command: &str, status: Status) -> EventItem {
        EventItem::Status(
            StatusEvent {
                command_id: command.into(),
                device_id: "d".into(),
                status,
                status_message: None,
                at: None,
                record: None,
            },
            Instant::now(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn events_before_and_after_registration_reach_the_task() {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (hub, task) = EventHub::start(rx);
        tx.send(event("c1", Status::Sent)).await.unwrap();
        tx.send(event("other", Status::Sent)).await.unwrap();
        tokio::task::yield_now().await;
        let sub = hub.register("c1");
        // The early event is pending at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), sub.changed())
            .await
            .unwrap();
        let p = sub.take();
        assert_eq!(p.events.len(), 1);
        assert!(!p.resync && p.down.is_none());
        tx.send(event("c1", Status::Success)).await.unwrap();
        sub.changed().await;
        let p = sub.take();
        assert_eq!(p.events[0].event.status, Status::Success);
        tx.send(EventItem::Lagged(3)).await.unwrap();
        sub.changed().await;
        assert!(sub.take().resync);
        assert_eq!(hub.stats().lagged.load(Ordering::Relaxed), 3);
        drop(tx);
        sub.changed().await;
        assert_eq!(sub.take().down.as_deref(), Some("the event stream ended"));
        task.await.unwrap();
        assert_eq!(hub.stats().events.load(Ordering::Relaxed), 3);
        drop(sub);
        assert_eq!(
            hub.lock().slots.len(),
            1,
            "only the unclaimed `other` is left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn resync_slots_are_spread_at_the_rate() {
        let limiter = ResyncLimiter::new(1000);
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..5).map(|_| limiter.reserve()).collect();
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(*s - t0, std::time::Duration::from_millis(i as u64));
        }
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        assert_eq!(
            limiter.reserve(),
            Instant::now(),
            "an idle bucket is free at once"
        );
    }

    #[test]
    fn unclaimed_commands_are_evicted_beyond_the_bound() {
        let hub = Arc::new(EventHub {
            inner: Mutex::new(Inner::default()),
            stats: EventStats::default(),
        });
        let _kept = hub.register("c0");
        for i in 1..=MAX_EARLY_COMMANDS + 10 {
            if let EventItem::Status(event, at) = event(&format!("c{i}"), Status::Sent) {
                hub.deliver(Received { event, at });
            }
        }
        let inner = hub.lock();
        assert_eq!(inner.early_count, MAX_EARLY_COMMANDS);
        assert_eq!(inner.slots.len(), MAX_EARLY_COMMANDS + 1);
        assert!(
            inner.slots.contains_key("c0"),
            "registered commands are never evicted"
        );
        assert!(!inner.slots.contains_key("c1"), "the oldest went first");
        assert_eq!(hub.stats().evicted.load(Ordering::Relaxed), 10);
    }
}
