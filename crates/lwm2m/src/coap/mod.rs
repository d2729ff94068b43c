//! The CoAP message layer (RFC 7252) on top of `coap-lite`'s codec.
//!
//! [`Endpoint`] is the sans-IO core; [`service`] drives one on a UDP socket with tokio.

mod config;
mod dedup;
mod endpoint;
mod message;
pub mod service;
mod types;

pub use config::EndpointConfig;
pub use endpoint::Endpoint;
pub use types::{
    EndpointStats, Event, ExchangeId, FailureReason, RequestId, RequestOptions, Transmit,
};
