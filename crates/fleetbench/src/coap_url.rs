//! Parsing of `coap://HOST:PORT` server addresses given on the command line.

use std::net::SocketAddr;

/// The default CoAP port (RFC 7252 §6.1).
pub const DEFAULT_COAP_PORT: u16 = 5683;

/// Splits `coap://host[:port]` into host and port. Only the `coap` scheme is accepted
/// (fleetbench speaks CoAP over plain UDP).
pub fn parse_coap_url(text: &str) -> Result<(String, u16), String> {
    let rest = text.strip_prefix("coap://").ok_or_else(|| {
        format!("{text:?} is not a coap:// URL (only plain CoAP over UDP is supported)")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("{text:?} must be coap://HOST[:PORT] with no path"));
    }
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{text:?} has an unclosed IPv6 bracket"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(text, port)?,
            None if after.is_empty() => DEFAULT_COAP_PORT,
            None => return Err(format!("{text:?} has text after the IPv6 address")),
        };
        return Ok((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((host.to_owned(), parse_port(text, port)?)),
        Some(_) => Err(format!("{text:?} has no host")),
        None => Ok((authority.to_owned(), DEFAULT_COAP_PORT)),
    }
}

fn parse_port(text: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{text:?} has port {port:?}: expected 1..=65535")),
        Ok(port) => Ok(port),
    }
}

/// Resolves a `coap://` URL to one socket address (the first the resolver returns).
pub async fn resolve_coap_url(text: &str) -> Result<SocketAddr, String> {
    let (host, port) = parse_coap_url(text)?;
    let mut addresses = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|error| format!("cannot resolve {host:?} in {text:?}: {error}"))?;
    addresses
        .next()
        .ok_or_else(|| format!("{host:?} in {text:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_port_forms() {
        assert_eq!(
            parse_coap_url("coap://127.0.0.1:5684"),
            Ok(("127.0.0.1".into(), 5684))
        );
        assert_eq!(
            parse_coap_url("coap://localhost"),
            Ok(("localhost".into(), 5683))
        );
        assert_eq!(parse_coap_url("coap://[::1]:9/"), Ok(("::1".into(), 9)));
    }

    #[test]
    fn errors_name_the_value() {
        for bad in [
            "http://x",
            "coap://",
            "coap://h:0",
            "coap://h:99999",
            "coap://h/rd",
            "coap://[::1",
        ] {
            let error = parse_coap_url(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
