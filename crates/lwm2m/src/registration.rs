//! The LwM2M Registration interface (OMA LwM2M 1.1 Core §6.2): Register, Update and
//! De-register requests, built by clients and parsed by servers.
//!
//! Register is `POST /rd?ep=..&lt=..&lwm2m=..&b=..[&Q]` with a CoRE link-format payload; the
//! server answers 2.01 with the registration's Location-Path. Update is `POST` to that location,
//! De-register a `DELETE` of it.

use coap_lite::{Packet, RequestType};

use crate::content_format::ContentFormat;
use crate::packets::{add_queries, new_request, set_content_format};

/// The registration's query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationParams {
    /// `ep`: the endpoint client name (mandatory in Register).
    pub endpoint: String,
    /// `lt`: lifetime in seconds.
    pub lifetime: Option<u32>,
    /// `lwm2m`: the enabler version (`1.0`, `1.1`).
    pub version: Option<String>,
    /// `b`: binding (`U`, `UQ` in 1.0; `U`, `T`, `S`, `N` in 1.1).
    pub binding: Option<String>,
    /// `Q`: queue mode (1.1, value-less).
    pub queue_mode: bool,
    /// `sms`: MSISDN.
    pub sms: Option<String>,
}

/// LwM2M versions this crate registers with and accepts.
pub const SUPPORTED_VERSIONS: [&str; 2] = ["1.0", "1.1"];

/// Why registration parameters are invalid. Messages name the parameter and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// No `ep` parameter.
    #[error("registration has no `ep` (endpoint client name) parameter")]
    MissingEndpoint,
    /// A parameter's value is invalid.
    #[error("registration parameter `{name}` is {value:?}: {reason}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An `lwm2m` version we do not speak (answered 4.12 Precondition Failed, as Wakaama does).
    #[error("LwM2M version {0:?} is not supported: expected 1.0 or 1.1")]
    UnsupportedVersion(String),
}

impl RegistrationParams {
    /// Parameters for `endpoint` registering as LwM2M 1.1 over UDP.
    pub fn new(endpoint: impl Into<String>, lifetime: u32) -> Self {
        Self {
            endpoint: endpoint.into(),
            lifetime: Some(lifetime),
            version: Some("1.1".to_owned()),
            binding: Some("U".to_owned()),
            queue_mode: false,
            sms: None,
        }
    }

    /// The Uri-Query items of a Register request.
    pub fn to_query(&self) -> Vec<String> {
        let mut query = vec![format!("ep={}", self.endpoint)];
        if let Some(lifetime) = self.lifetime {
            query.push(format!("lt={lifetime}"));
        }
        if let Some(version) = &self.version {
            query.push(format!("lwm2m={version}"));
        }
        if let Some(binding) = &self.binding {
            query.push(format!("b={binding}"));
        }
        if let Some(sms) = &self.sms {
            query.push(format!("sms={sms}"));
        }
        if self.queue_mode {
            query.push("Q".to_owned());
        }
        query
    }

    /// Parses the Uri-Query items of a Register request. Unknown parameters are ignored, as
    /// the specification allows extensions.
    pub fn from_query<S: AsRef<str>>(query: &[S]) -> Result<Self, RegistrationError> {
        let mut params = Self {
            endpoint: String::new(),
            lifetime: None,
            version: None,
            binding: None,
            queue_mode: false,
            sms: None,
        };
        for item in query {
            let item = item.as_ref();
            let (name, value) = match item.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (item, None),
            };
            let bad = |reason| RegistrationError::BadParameter {
                name: name.to_owned(),
                value: value.unwrap_or_default().to_owned(),
                reason,
            };
            match (name, value) {
                ("ep", Some(value)) if !value.is_empty() => params.endpoint = value.to_owned(),
                ("ep", _) => return Err(bad("must be a non-empty name")),
                ("lt", Some(value)) => {
                    params.lifetime = Some(
                        value
                            .parse()
                            .map_err(|_| bad("must be an integer number of seconds"))?,
                    );
                }
                ("lwm2m", Some(value)) => {
                    if !SUPPORTED_VERSIONS.contains(&value) {
                        return Err(RegistrationError::UnsupportedVersion(value.to_owned()));
                    }
                    params.version = Some(value.to_owned());
                }
                ("b", Some(value)) => {
                    if value.is_empty()
                        || !value
                            .chars()
                            .all(|c| matches!(c, 'U' | 'T' | 'S' | 'N' | 'Q'))
                    {
                        return Err(bad("must be binding letters from U, T, S, N, Q"));
                    }
                    params.queue_mode |= value.contains('Q');
                    params.binding = Some(value.to_owned());
                }
                ("sms", Some(value)) => params.sms = Some(value.to_owned()),
                ("Q", None) => params.queue_mode = true,
                ("Q", Some(_)) => return Err(bad("queue mode `Q` takes no value")),
                ("lt" | "lwm2m" | "b" | "sms", None) => return Err(bad("needs a value")),
                _ => {}
            }
        }
        if params.endpoint.is_empty() {
            return Err(RegistrationError::MissingEndpoint);
        }
        Ok(params)
    }
}

/// The parameters an Update may carry (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateParams {
    /// `lt`: a new lifetime.
    pub lifetime: Option<u32>,
    /// `b`: a new binding.
    pub binding: Option<String>,
}

impl UpdateParams {
    /// Parses the Uri-Query items of an Update.
    pub fn from_query<S: AsRef<str>>(query: &[S]) -> Result<Self, RegistrationError> {
        let mut params = Self::default();
        for item in query {
            let item = item.as_ref();
            match item.split_once('=') {
                Some(("lt", value)) => {
                    params.lifetime =
                        Some(value.parse().map_err(|_| RegistrationError::BadParameter {
                            name: "lt".to_owned(),
                            value: value.to_owned(),
                            reason: "must be an integer number of seconds",
                        })?);
                }
                Some(("b", value)) => params.binding = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok(params)
    }
}

/// The Register request: `POST /rd?...` with the object links as CoRE link format.
pub fn register_request(params: &RegistrationParams, links: &str) -> Packet {
    let mut packet = new_request(RequestType::Post, &["rd"]);
    add_queries(&mut packet, &params.to_query());
    set_content_format(&mut packet, ContentFormat::LinkFormat.number());
    packet.payload = links.as_bytes().to_vec();
    packet
}

/// An Update request to the registration at `location` (the Location-Path of the 2.01).
/// `links` is sent only when the object list changed.
pub fn update_request<S: AsRef<str>>(
    location: &[S],
    lifetime: Option<u32>,
    links: Option<&str>,
) -> Packet {
    let mut packet = new_request(RequestType::Post, location);
    if let Some(lifetime) = lifetime {
        add_queries(&mut packet, &[format!("lt={lifetime}")]);
    }
    if let Some(links) = links {
        set_content_format(&mut packet, ContentFormat::LinkFormat.number());
        packet.payload = links.as_bytes().to_vec();
    }
    packet
}

/// The De-register request: `DELETE` of the registration's location.
pub fn deregister_request<S: AsRef<str>>(location: &[S]) -> Packet {
    new_request(RequestType::Delete, location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packets::{content_format, uri_path, uri_query};

    #[test]
    fn register_request_carries_query_and_links() {
        let mut params = RegistrationParams::new("dev-1", 300);
        params.queue_mode = true;
        let packet = register_request(&params, "</1/0>,</3/0>");
        assert_eq!(uri_path(&packet), ["rd"]);
        assert_eq!(
            uri_query(&packet),
            ["ep=dev-1", "lt=300", "lwm2m=1.1", "b=U", "Q"]
        );
        assert_eq!(content_format(&packet), Some(40));
        assert_eq!(
            RegistrationParams::from_query(&uri_query(&packet)),
            Ok(params)
        );
    }

    #[test]
    fn parse_errors_name_the_parameter() {
        assert_eq!(
            RegistrationParams::from_query(&["lt=5"]),
            Err(RegistrationError::MissingEndpoint)
        );
        let error = RegistrationParams::from_query(&["ep=a", "lt=soon"]).unwrap_err();
        assert!(
            error.to_string().contains("`lt`") && error.to_string().contains("soon"),
            "{error}"
        );
        assert_eq!(
            RegistrationParams::from_query(&["ep=a", "lwm2m=1.2"]),
            Err(RegistrationError::UnsupportedVersion("1.2".into()))
        );
        assert!(RegistrationParams::from_query(&["ep=a", "Q=1"]).is_err());
        assert!(RegistrationParams::from_query(&["ep=a", "b=X"]).is_err());
    }

    #[test]
    fn one_zero_binding_with_queue_mode() {
        let params = RegistrationParams::from_query(&["ep=a", "b=UQ", "future=1"]).unwrap();
        assert!(params.queue_mode);
        assert_eq!(params.binding.as_deref(), Some("UQ"));
    }

    #[test]
    fn update_and_deregister_target_the_location() {
        let update = update_request(&["rd", "7"], Some(60), None);
        assert_eq!(uri_path(&update), ["rd", "7"]);
        assert_eq!(
            UpdateParams::from_query(&uri_query(&update))
                .unwrap()
                .lifetime,
            Some(60)
        );
        assert_eq!(content_format(&update), None);
        let delete = deregister_request(&["rd", "7"]);
        assert_eq!(uri_path(&delete), ["rd", "7"]);
    }
}
