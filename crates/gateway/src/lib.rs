//! The fleetbench mock gateway: the EdgeIQ-style Gateway Command REST API in front of an
//! LwM2M server.
//!
//! - [`api`]: the axum routes, auth, errors, JSON and query handling.
//! - [`engine`]: the command lifecycle; reaches devices through [`engine::DeviceLink`].
//! - [`lwm2m_server`]: registrations over CoAP/UDP and the [`engine::DeviceLink`] over them.
//! - [`store`], [`model`]: bounded in-memory stores and the domain types.
//!
//! The public surface used by the runner and the binary is [`GatewayConfig`], [`start`] and
//! [`RunningGateway`].

pub mod api;
pub mod clock;
pub mod config;
pub mod engine;
pub mod http_server;
pub mod lwm2m_server;
pub mod model;
mod running;
pub mod state;
pub mod store;

pub use config::GatewayConfig;
pub use running::{
    GatewayError, InProcessGateway, RunningGateway, start, start_in_process, start_with_link,
};
