//! Live registrations, by endpoint name and by location (`rd/<id>`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::LinkError;
use crate::model::ObjectId;
use crate::model::token::TokenSource;
use crate::store::{lock, read, write};

/// Why a registration is no longer usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Registered.
    Alive,
    /// The device sent De-register.
    Deregistered,
    /// The lifetime lapsed without an Update.
    Expired,
    /// The endpoint registered again (a new registration replaced this one).
    Replaced,
    /// The server is stopping.
    Stopped,
}

impl Liveness {
    /// The error an in-flight request gets when its registration ends this way.
    pub fn error(self, endpoint: &str) -> LinkError {
        let endpoint = endpoint.to_owned();
        match self {
            Self::Alive | Self::Deregistered => LinkError::Deregistered { endpoint },
            Self::Expired => LinkError::Expired { endpoint },
            Self::Replaced => LinkError::Deregistered { endpoint },
            Self::Stopped => LinkError::Local("the LwM2M server stopped".to_owned()),
        }
    }
}

/// What changes on Update.
#[derive(Debug, Clone)]
pub struct Reachability {
    /// Where the device is.
    pub peer: SocketAddr,
    /// Lifetime.
    pub lifetime: Duration,
    /// When the registration lapses.
    pub expires_at: Instant,
}

/// One registration.
#[derive(Debug)]
pub struct Registration {
    /// Endpoint name.
    pub endpoint: String,
    /// Location id (the `<id>` of `rd/<id>`).
    pub location: String,
    /// The device `_id`.
    pub device_id: ObjectId,
    /// Peer, lifetime and expiry.
    pub reach: Mutex<Reachability>,
    /// A `/25` discovery of this registration waits for its turn (at most one waits).
    pub discovery_waiting: AtomicBool,
    /// Whether the latest registered object links list Object 25 (read when a discovery
    /// starts, so a waiting discovery uses the newest links).
    pub lists_gateway_object: AtomicBool,
    alive: watch::Sender<Liveness>,
}

impl Registration {
    /// The peer address now.
    pub fn peer(&self) -> SocketAddr {
        lock(&self.reach).peer
    }

    /// A receiver that changes when the registration ends.
    pub fn watch(&self) -> watch::Receiver<Liveness> {
        self.alive.subscribe()
    }

    /// Ends the registration: in-flight requests fail with `how`.
    pub fn end(&self, how: Liveness) {
        self.alive.send_replace(how);
    }
}

/// A registration looked up by location and source address.
#[derive(Debug)]
pub enum Found {
    /// No registration at that location.
    None,
    /// The registration, asked for from its own address.
    Yours(Arc<Registration>),
    /// A registration registered from another address.
    Foreign,
}

/// Waits until the registration behind `watch` ends; returns how.
pub async fn ended(watch: &mut watch::Receiver<Liveness>) -> Liveness {
    match watch.wait_for(|state| *state != Liveness::Alive).await {
        Ok(state) => *state,
        Err(_) => Liveness::Stopped,
    }
}

#[derive(Debug, Default)]
struct Tables {
    by_endpoint: HashMap<String, Arc<Registration>>,
    by_location: HashMap<String, Arc<Registration>>,
}

/// All live registrations.
#[derive(Debug, Default)]
pub struct Registry {
    tables: RwLock<Tables>,
    tokens: TokenSource,
}

impl Registry {
    /// An empty registry whose registration locations come from `tokens`.
    pub fn with_tokens(tokens: TokenSource) -> Self {
        Self {
            tables: RwLock::default(),
            tokens,
        }
    }

    /// Adds a registration for `endpoint`, replacing (and ending) an older one.
    pub fn register(
        &self,
        endpoint: &str,
        device_id: ObjectId,
        reach: Reachability,
    ) -> Arc<Registration> {
        let mut tables = write(&self.tables);
        let mut location = self.tokens.next_token();
        while tables.by_location.contains_key(&location) {
            location = self.tokens.next_token();
        }
        let (alive, _) = watch::channel(Liveness::Alive);
        let registration = Arc::new(Registration {
            endpoint: endpoint.to_owned(),
            location: location.clone(),
            device_id,
            reach: Mutex::new(reach),
            discovery_waiting: AtomicBool::new(false),
            lists_gateway_object: AtomicBool::new(false),
            alive,
        });
        if let Some(old) = tables
            .by_endpoint
            .insert(endpoint.to_owned(), registration.clone())
        {
            tables.by_location.remove(&old.location);
            old.end(Liveness::Replaced);
        }
        tables.by_location.insert(location, registration.clone());
        registration
    }

    /// The registration of `endpoint`.
    pub fn by_endpoint(&self, endpoint: &str) -> Option<Arc<Registration>> {
        read(&self.tables).by_endpoint.get(endpoint).cloned()
    }

    /// The registration at location `location`.
    pub fn by_location(&self, location: &str) -> Option<Arc<Registration>> {
        read(&self.tables).by_location.get(location).cloned()
    }

    /// The registration at `location` if `peer` is its registered address: Update and
    /// De-register from any other address are treated as if the location did not exist.
    pub fn by_location_from(&self, location: &str, peer: SocketAddr) -> Found {
        match self.by_location(location) {
            None => Found::None,
            Some(registration) if registration.peer() == peer => Found::Yours(registration),
            Some(_) => Found::Foreign,
        }
    }

    /// Removes the registration at `location` and ends it with `how`.
    pub fn remove(&self, location: &str, how: Liveness) -> Option<Arc<Registration>> {
        let mut tables = write(&self.tables);
        let registration = tables.by_location.remove(location)?;
        if tables
            .by_endpoint
            .get(&registration.endpoint)
            .is_some_and(|r| Arc::ptr_eq(r, &registration))
        {
            tables.by_endpoint.remove(&registration.endpoint);
        }
        registration.end(how);
        Some(registration)
    }

    /// Removes every registration whose lifetime lapsed before `now`; returns them.
    pub fn expire(&self, now: Instant) -> Vec<Arc<Registration>> {
        let lapsed: Vec<String> = read(&self.tables)
            .by_location
            .values()
            .filter(|registration| lock(&registration.reach).expires_at <= now)
            .map(|registration| registration.location.clone())
            .collect();
        lapsed
            .iter()
            .filter_map(|location| self.remove(location, Liveness::Expired))
            .collect()
    }

    /// Ends every registration (server shutdown).
    pub fn stop_all(&self) {
        let tables = read(&self.tables);
        for registration in tables.by_location.values() {
            registration.end(Liveness::Stopped);
        }
    }

    /// Number of live registrations.
    pub fn len(&self) -> usize {
        read(&self.tables).by_location.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IdGenerator;

    fn reach(expires_in: Duration) -> Reachability {
        Reachability {
            peer: SocketAddr::from(([127, 0, 0, 1], 5683)),
            lifetime: Duration::from_secs(60),
            expires_at: Instant::now() + expires_in,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lapsed_registrations_expire_and_end_in_flight_requests() {
        let ids = IdGenerator::new(1, 1);
        let registry = Registry::default();
        let short = registry.register("a", ids.next_id(), reach(Duration::from_secs(5)));
        let long = registry.register("b", ids.next_id(), reach(Duration::from_secs(50)));
        let mut watch = short.watch();
        assert!(registry.expire(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(6)).await;
        let expired = registry.expire(Instant::now());
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].endpoint, "a");
        assert_eq!(ended(&mut watch).await, Liveness::Expired);
        assert!(registry.by_endpoint("a").is_none());
        assert!(registry.by_location(&long.location).is_some());
        assert_eq!(registry.len(), 1);
    }

    #[tokio::test]
    async fn a_new_register_replaces_the_old_registration() {
        let ids = IdGenerator::new(1, 1);
        let registry = Registry::default();
        let device = ids.next_id();
        let first = registry.register("a", device, reach(Duration::from_secs(60)));
        let mut watch = first.watch();
        let second = registry.register("a", device, reach(Duration::from_secs(60)));
        assert_ne!(first.location, second.location);
        assert_eq!(ended(&mut watch).await, Liveness::Replaced);
        assert!(registry.by_location(&first.location).is_none());
        assert!(
            registry
                .remove(&first.location, Liveness::Deregistered)
                .is_none()
        );
        let removed = registry
            .remove(&second.location, Liveness::Deregistered)
            .unwrap();
        assert_eq!(removed.endpoint, "a");
        assert!(registry.is_empty());
    }
}
