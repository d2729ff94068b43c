//! Starting and stopping a gateway.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::body::BodyLimits;
use crate::api::{self, AppState};
use crate::clock::Clock;
use crate::config::GatewayConfig;
use crate::engine::{DeviceLink, Engine, EngineConfig};
use crate::http_server::{self, HttpLimits};
use crate::lwm2m_server::Lwm2mServer;
use crate::state::GatewayState;

/// How long shutdown waits for open HTTP connections before closing them.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A listen address could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// `http` or `coap`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running gateway. Dropping it does not stop it; call [`RunningGateway::shutdown`].
#[derive(Debug)]
pub struct RunningGateway {
    http_addr: SocketAddr,
    coap_addr: SocketAddr,
    engine: Engine,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<()>,
    lwm2m: Option<Lwm2mServer>,
}

impl RunningGateway {
    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound CoAP address devices register with.
    pub fn coap_addr(&self) -> SocketAddr {
        self.coap_addr
    }

    /// The command engine (and through it the stores).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops serving and waits for the tasks to end. In-flight commands fail with "the
    /// gateway shut down".
    pub async fn shutdown(self) {
        self.engine.shutdown();
        let _ = self.stop_http.send(());
        let mut http = self.http;
        // The server itself closes connections after SHUTDOWN_GRACE; this is a backstop.
        if tokio::time::timeout(SHUTDOWN_GRACE * 2, &mut http)
            .await
            .is_err()
        {
            http.abort();
        }
        if let Some(lwm2m) = self.lwm2m {
            lwm2m.shutdown().await;
        }
    }
}

/// Binds both listeners and starts serving.
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let state = Arc::new(GatewayState::new(&config, Clock::system()));
    let server = Lwm2mServer::bind(config.coap_addr, state.clone(), &config)
        .await
        .map_err(|source| GatewayError::Bind {
            what: "coap",
            addr: config.coap_addr,
            source,
        })?;
    let link = server.link();
    let coap_addr = server.local_addr();
    let mut running = serve(config, state, link, coap_addr).await?;
    running.lwm2m = Some(server);
    Ok(running)
}

/// Starts the REST API and engine over a custom [`DeviceLink`] (no LwM2M server; `coap_addr`
/// is reported as given). For tests and other device protocols.
pub async fn start_with_link(
    config: GatewayConfig,
    link: impl DeviceLink,
) -> Result<RunningGateway, GatewayError> {
    let state = Arc::new(GatewayState::new(&config, Clock::system()));
    let coap_addr = config.coap_addr;
    serve(config, state, link, coap_addr).await
}

/// A gateway without sockets: its REST API as an axum [`Router`](axum::Router) to call in
/// process (a tower `Service`) and its LwM2M server over a given datagram transport. For
/// virtual-time runs under tokio's paused clock. Call [`InProcessGateway::shutdown`].
#[derive(Debug)]
pub struct InProcessGateway {
    /// The REST API; every request is served as over HTTP, auth and body limits included.
    pub router: axum::Router,
    engine: Engine,
    coap_addr: SocketAddr,
    lwm2m: Lwm2mServer,
}

impl InProcessGateway {
    /// The transport address devices register with.
    pub fn coap_addr(&self) -> SocketAddr {
        self.coap_addr
    }

    /// The command engine (and through it the stores).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the engine and the LwM2M server.
    pub async fn shutdown(self) {
        self.engine.shutdown();
        drop(self.router);
        self.lwm2m.shutdown().await;
    }
}

/// Starts a gateway without sockets (see [`InProcessGateway`]): the LwM2M server over
/// `transport`, wall-clock timestamps from `clock` (anchor it at a fixed epoch for
/// reproducible runs). `config.http_addr` and `config.coap_addr` are not used.
pub fn start_in_process<T: DatagramTransport>(
    config: GatewayConfig,
    transport: T,
    clock: Clock,
) -> Result<InProcessGateway, GatewayError> {
    let state = Arc::new(GatewayState::new(&config, clock));
    let addr = transport.local_addr().unwrap_or(config.coap_addr);
    let server = Lwm2mServer::start_over(transport, state.clone(), &config).map_err(|source| {
        GatewayError::Bind {
            what: "coap",
            addr,
            source,
        }
    })?;
    let coap_addr = server.local_addr();
    let (engine, router) = engine_and_router(&config, state, server.link());
    Ok(InProcessGateway {
        router,
        engine,
        coap_addr,
        lwm2m: server,
    })
}

fn engine_and_router(
    config: &GatewayConfig,
    state: Arc<GatewayState>,
    link: impl DeviceLink,
) -> (Engine, axum::Router) {
    let engine = Engine::new(
        state,
        link,
        EngineConfig {
            default_timeout: config.default_timeout,
            max_in_flight: config.max_in_flight,
            max_observations: config.max_observations,
            max_schedule_ahead: config.max_schedule_ahead,
        },
    );
    let tokens: HashSet<String> = config.tokens.iter().cloned().collect();
    let app = api::router(
        AppState {
            engine: engine.clone(),
            tokens: Arc::new(tokens),
        },
        BodyLimits {
            max_bytes: config.max_body_bytes,
            timeout: config.http_body_timeout,
        },
    );
    (engine, app)
}

async fn serve(
    config: GatewayConfig,
    state: Arc<GatewayState>,
    link: impl DeviceLink,
    coap_addr: SocketAddr,
) -> Result<RunningGateway, GatewayError> {
    let listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| GatewayError::Bind {
            what: "http",
            addr: config.http_addr,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        what: "http",
        addr: config.http_addr,
        source,
    })?;
    let (engine, app) = engine_and_router(&config, state, link);
    let limits = HttpLimits {
        header_timeout: config.http_header_timeout,
        max_connections: config.http_max_connections,
        shutdown_grace: SHUTDOWN_GRACE,
    };
    let (stop_http, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(http_server::serve(listener, app, limits, stopped));
    Ok(RunningGateway {
        http_addr,
        coap_addr,
        engine,
        stop_http,
        http,
        lwm2m: None,
    })
}
