//! The `DeviceLink` seam: how the engine reaches devices. The LwM2M server implements it over
//! CoAP; tests implement it with scripts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use futures_util::stream::BoxStream;

use crate::model::ObjectId;

/// Where a device is reached: its registered endpoint, and for an attached device the
/// Object 25 prefix behind that endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceRoute {
    /// The target device's `_id`.
    pub device_id: ObjectId,
    /// Registered LwM2M endpoint name requests go to.
    pub endpoint: String,
    /// Object 25 prefix of an attached device.
    pub prefix: Option<String>,
}

impl DeviceRoute {
    /// `path` as sent on the wire: behind the route's prefix unless it carries its own.
    pub fn wire_path(&self, path: &Lwm2mPath) -> Lwm2mPath {
        match (&path.prefix, &self.prefix) {
            (None, Some(prefix)) => path.with_prefix(Some(prefix)),
            _ => path.clone(),
        }
    }
}

/// One LwM2M operation. Paths are relative to the device (no prefix); the link adds the
/// route's prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceOperation {
    /// `GET path` (Block2 followed).
    Read {
        /// What to read.
        path: Lwm2mPath,
    },
    /// `PUT path` with `payload` in `content_format` (Block1 when large).
    Write {
        /// What to write.
        path: Lwm2mPath,
        /// Payload format.
        content_format: ContentFormat,
        /// Payload.
        payload: Bytes,
    },
    /// `POST path` with optional text arguments.
    Execute {
        /// The executable resource.
        path: Lwm2mPath,
        /// Execute arguments (text/plain), if any.
        arguments: Option<String>,
    },
}

impl DeviceOperation {
    /// The operation's path.
    pub fn path(&self) -> &Lwm2mPath {
        match self {
            Self::Read { path } | Self::Write { path, .. } | Self::Execute { path, .. } => path,
        }
    }
}

/// A successful (2.xx) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationOutcome {
    /// Response code as `c.dd`, e.g. `2.05`.
    pub code: String,
    /// Content-Format of the payload, if given.
    pub content_format: Option<u16>,
    /// The payload (whole, after Block2).
    pub payload: Bytes,
}

/// An active observation: the first notification and the stream of later ones. Dropping the
/// stream cancels the observation.
pub struct Observation {
    /// The answer to the Observe request.
    pub first: OperationOutcome,
    /// Later notifications; ends when the device cancels, de-registers or goes silent.
    pub notifications: BoxStream<'static, OperationOutcome>,
}

impl fmt::Debug for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observation")
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
}

/// Why an operation did not succeed. Messages say what happened to which device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The endpoint holds no registration.
    #[error("device endpoint {endpoint:?} is not registered with the LwM2M server")]
    NotRegistered {
        /// Endpoint name.
        endpoint: String,
    },
    /// The device de-registered while the request was in flight.
    #[error("device endpoint {endpoint:?} de-registered while the request was in flight")]
    Deregistered {
        /// Endpoint name.
        endpoint: String,
    },
    /// The registration lifetime lapsed (the device went silent).
    #[error("device endpoint {endpoint:?} went silent: its registration lifetime expired")]
    Expired {
        /// Endpoint name.
        endpoint: String,
    },
    /// No answer: every CoAP retransmission went unacknowledged. The message starts with
    /// [`NO_ANSWER_PREFIX`].
    #[error("device did not answer (CoAP timeout): endpoint {endpoint:?}, {detail}")]
    NoAnswer {
        /// Endpoint name.
        endpoint: String,
        /// What timed out.
        detail: String,
    },
    /// The device answered with a CoAP Reset.
    #[error("device endpoint {endpoint:?} answered with a CoAP Reset")]
    Reset {
        /// Endpoint name.
        endpoint: String,
    },
    /// The device answered with an error code.
    #[error("device answered {code} {reason}{}", diagnostic_suffix(.diagnostic))]
    Rejected {
        /// Response code, e.g. `4.04`.
        code: String,
        /// Its name, e.g. `Not Found`.
        reason: String,
        /// Diagnostic payload, if any.
        diagnostic: String,
    },
    /// The answer could not be used (bad Block2 sequence, oversize body, …).
    #[error("unusable answer from device endpoint {endpoint:?}: {detail}")]
    BadAnswer {
        /// Endpoint name.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// The gateway could not send (socket error, too many observations, …).
    #[error("the gateway could not send the request: {0}")]
    Local(String),
}

/// How the status message of a device that never answered at the CoAP layer starts; the word
/// `timeout` alone is kept for the command and attempt deadlines.
pub const NO_ANSWER_PREFIX: &str = "device did not answer (CoAP timeout)";

impl LinkError {
    /// Whether the device never answered at the CoAP layer.
    pub fn is_no_answer(&self) -> bool {
        matches!(self, Self::NoAnswer { .. })
    }
}

fn diagnostic_suffix(diagnostic: &str) -> String {
    if diagnostic.is_empty() {
        String::new()
    } else {
        format!(": {diagnostic}")
    }
}

/// How the engine reaches devices.
pub trait DeviceLink: Send + Sync + 'static {
    /// Runs one operation on the device behind `target`. Dropping the future abandons the
    /// exchange.
    fn execute(
        &self,
        target: &DeviceRoute,
        operation: DeviceOperation,
    ) -> impl Future<Output = Result<OperationOutcome, LinkError>> + Send;

    /// Starts observing `path` on the device behind `target`.
    fn observe(
        &self,
        target: &DeviceRoute,
        path: Lwm2mPath,
    ) -> impl Future<Output = Result<Observation, LinkError>> + Send;
}

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe form of [`DeviceLink`], implemented for every link.
pub trait DynDeviceLink: Send + Sync + 'static {
    /// See [`DeviceLink::execute`].
    fn execute_boxed(
        &self,
        target: DeviceRoute,
        operation: DeviceOperation,
    ) -> BoxFuture<'_, Result<OperationOutcome, LinkError>>;
    /// See [`DeviceLink::observe`].
    fn observe_boxed(
        &self,
        target: DeviceRoute,
        path: Lwm2mPath,
    ) -> BoxFuture<'_, Result<Observation, LinkError>>;
}

impl<L: DeviceLink> DynDeviceLink for L {
    fn execute_boxed(
        &self,
        target: DeviceRoute,
        operation: DeviceOperation,
    ) -> BoxFuture<'_, Result<OperationOutcome, LinkError>> {
        Box::pin(async move { self.execute(&target, operation).await })
    }

    fn observe_boxed(
        &self,
        target: DeviceRoute,
        path: Lwm2mPath,
    ) -> BoxFuture<'_, Result<Observation, LinkError>> {
        Box::pin(async move { self.observe(&target, path).await })
    }
}

impl<L: DeviceLink> DeviceLink for std::sync::Arc<L> {
    fn execute(
        &self,
        target: &DeviceRoute,
        operation: DeviceOperation,
    ) -> impl Future<Output = Result<OperationOutcome, LinkError>> + Send {
        (**self).execute(target, operation)
    }

    fn observe(
        &self,
        target: &DeviceRoute,
        path: Lwm2mPath,
    ) -> impl Future<Output = Result<Observation, LinkError>> + Send {
        (**self).observe(target, path)
    }
}
