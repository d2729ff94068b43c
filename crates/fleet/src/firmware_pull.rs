//! The firmware pull client (LwM2M Object 5 Package URI): the device, as a CoAP client,
//! fetches `coap://host[:port]/path[?query]` block by block (RFC 7959 Block2, early
//! negotiation with `NUM=0` and the preferred size, then the server's size), checks that the
//! ETag stays the same (a changed representation restarts the download, at most
//! [`MAX_RESTARTS`] times) and counts the bytes without keeping them. Sans-IO: it hands out
//! request packets and takes responses; the driver sends them through the device's CoAP
//! endpoint.
//!
//! Failures map to Update Result codes: an unparsable URI or a host that is not an IP
//! literal or `localhost` → 7 (invalid URI), another scheme (`coaps`, `http`...) → 9
//! (unsupported protocol), a 4.xx answer → 7, a timeout, RST or 5.xx → 4 (connection lost),
//! a package above [`MAX_PACKAGE_BYTES`] → 2 (not enough flash), a representation that keeps
//! changing → 5 (integrity failure).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::block::BlockOption;

use crate::device::message;
use crate::model::firmware::result;

/// Largest package a device accepts.
pub const MAX_PACKAGE_BYTES: u64 = 32 * 1024 * 1024;

/// How often a download restarts after the ETag changed.
pub const MAX_RESTARTS: u32 = 2;

/// The default CoAP port.
pub const COAP_PORT: u16 = 5683;

/// A parsed `coap://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoapUri {
    /// Where to send the request.
    pub peer: SocketAddr,
    /// Uri-Path segments (percent-decoded).
    pub path: Vec<String>,
    /// Uri-Query items (percent-decoded).
    pub query: Vec<String>,
}

/// Parses a Package URI; the error is the Update Result to report.
pub fn parse_uri(uri: &str) -> Result<CoapUri, u8> {
    let (scheme, rest) = uri.split_once("://").ok_or(result::INVALID_URI)?;
    if !scheme.eq_ignore_ascii_case("coap") {
        let known = ["coaps", "http", "https", "coap+tcp", "coaps+tcp", "coap+ws"];
        return Err(if known.iter().any(|k| scheme.eq_ignore_ascii_case(k)) {
            result::UNSUPPORTED_PROTOCOL
        } else {
            result::INVALID_URI
        });
    }
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(authority)?;
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        host => host.parse::<IpAddr>().map_err(|_| result::INVALID_URI)?,
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let path = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(percent_decode)
        .collect::<Result<Vec<_>, _>>()?;
    let query = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter(|item| !item.is_empty())
        .map(percent_decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CoapUri {
        peer: SocketAddr::new(ip, port),
        path,
        query,
    })
}

fn split_host_port(authority: &str) -> Result<(&str, u16), u8> {
    if authority.contains('@') {
        return Err(result::INVALID_URI);
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(result::INVALID_URI)?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(result::INVALID_URI)?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(result::INVALID_URI);
    }
    let port = match port {
        None | Some("") => COAP_PORT,
        Some(port) => port.parse().map_err(|_| result::INVALID_URI)?,
    };
    Ok((host, port))
}

fn percent_decode(text: &str) -> Result<String, u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3).ok_or(result::INVALID_URI)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| result::INVALID_URI)?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| result::INVALID_URI)
}

/// What to do after a response.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadStep {
    /// Send this request (the next block) to [`Download::peer`].
    Request(Packet),
    /// Every byte arrived.
    Finished {
        /// The package size.
        bytes: u64,
    },
    /// The download failed with this Update Result.
    Failed(u8),
}

/// One package download in progress.
#[derive(Debug, Clone)]
pub struct Download {
    uri: CoapUri,
    szx: u8,
    received: u64,
    etag: Option<Vec<u8>>,
    restarts: u32,
}

impl Download {
    /// Starts a download of `uri` asking for `block_size`-byte blocks (16..=1024, a power of
    /// two; others fall back to 1024). Returns the first request, or the Update Result of an
    /// unusable URI.
    pub fn start(uri: &str, block_size: usize) -> Result<(Self, Packet), u8> {
        let uri = parse_uri(uri)?;
        let szx = BlockOption::szx_for_size(block_size).unwrap_or(6);
        let download = Self {
            uri,
            szx,
            received: 0,
            etag: None,
            restarts: 0,
        };
        let request = download.request(0);
        Ok((download, request))
    }

    /// The package server.
    pub fn peer(&self) -> SocketAddr {
        self.uri.peer
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// How often the download restarted because the representation changed.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    fn request(&self, num: u32) -> Packet {
        let mut packet = Packet::new();
        packet.header.code = MessageClass::Request(RequestType::Get);
        for segment in &self.uri.path {
            packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
        }
        for item in &self.uri.query {
            packet.add_option(CoapOption::UriQuery, item.as_bytes().to_vec());
        }
        let block = BlockOption {
            num,
            more: false,
            szx: self.szx,
        };
        packet.add_option(CoapOption::Block2, block.encode());
        packet
    }

    /// The request for the download ended without a response (timeout, RST).
    pub fn on_failure(&mut self) -> DownloadStep {
        DownloadStep::Failed(result::CONNECTION_LOST)
    }

    /// Takes the response to the last request.
    pub fn on_response(&mut self, response: &Packet) -> DownloadStep {
        match message::response_code(response) {
            Some(ResponseType::Content) => {}
            Some(code) if u8::from(MessageClass::Response(code)) >> 5 == 4 => {
                return DownloadStep::Failed(result::INVALID_URI);
            }
            _ => return DownloadStep::Failed(result::CONNECTION_LOST),
        }
        let block = match response.get_first_option(CoapOption::Block2) {
            None => None,
            Some(raw) => match BlockOption::decode(raw) {
                Ok(block) => Some(block),
                Err(_) => return DownloadStep::Failed(result::CONNECTION_LOST),
            },
        };
        let etag = response.get_first_option(CoapOption::ETag).cloned();
        let Some(block) = block else {
            // The whole representation in one response.
            if self.received != 0 {
                return DownloadStep::Failed(result::CONNECTION_LOST);
            }
            return self.add(response.payload.len(), false, 0);
        };
        if block.num == 0 {
            if let Some(size) = response.get_first_option(CoapOption::Size2) {
                let size = size.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                if size > MAX_PACKAGE_BYTES {
                    return DownloadStep::Failed(result::NOT_ENOUGH_FLASH);
                }
            }
            self.etag = etag;
        } else if self.etag.is_some() && etag != self.etag {
            // The package changed under us: start over, a bounded number of times.
            if self.restarts >= MAX_RESTARTS {
                return DownloadStep::Failed(result::INTEGRITY_FAILURE);
            }
            self.restarts += 1;
            self.received = 0;
            self.etag = None;
            return DownloadStep::Request(self.request(0));
        }
        if block.offset() as u64 != self.received {
            return DownloadStep::Failed(result::CONNECTION_LOST);
        }
        if block.more && response.payload.len() != block.size() {
            return DownloadStep::Failed(result::CONNECTION_LOST);
        }
        // Continue with the server's block size.
        self.szx = block.szx;
        self.add(response.payload.len(), block.more, block.size())
    }

    fn add(&mut self, length: usize, more: bool, block_size: usize) -> DownloadStep {
        self.received += length as u64;
        if self.received > MAX_PACKAGE_BYTES {
            return DownloadStep::Failed(result::NOT_ENOUGH_FLASH);
        }
        if !more {
            return DownloadStep::Finished {
                bytes: self.received,
            };
        }
        let num = self.received / block_size.max(1) as u64;
        match u32::try_from(num) {
            Ok(num) if num <= fleetbench_lwm2m::block::MAX_NUM => {
                DownloadStep::Request(self.request(num))
            }
            _ => DownloadStep::Failed(result::NOT_ENOUGH_FLASH),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn content(payload: &[u8], block: Option<BlockOption>, etag: Option<&[u8]>) -> Packet {
        let mut packet = message::empty(ResponseType::Content);
        if let Some(etag) = etag {
            packet.add_option(CoapOption::ETag, etag.to_vec());
        }
        if let Some(block) = block {
            packet.add_option(CoapOption::Block2, block.encode());
        }
        packet.payload = payload.to_vec();
        packet
    }

    fn block_of(packet: &Packet) -> BlockOption {
        BlockOption::decode(packet.get_first_option(CoapOption::Block2).unwrap()).unwrap()
    }

    #[test]
    fn parses_coap_uris_and_maps_bad_ones_to_results() {
        let uri = parse_uri("coap://127.0.0.1:5690/fw/pkg%20v2.bin?rev=3&x").unwrap();
        assert_eq!(uri.peer, "127.0.0.1:5690".parse().unwrap());
        assert_eq!(uri.path, ["fw", "pkg v2.bin"]);
        assert_eq!(uri.query, ["rev=3", "x"]);
        assert_eq!(parse_uri("coap://localhost/a").unwrap().peer.port(), 5683);
        assert_eq!(
            parse_uri("coap://[::1]:7000").unwrap().peer,
            "[::1]:7000".parse().unwrap()
        );
        assert_eq!(
            parse_uri("coaps://127.0.0.1/a"),
            Err(result::UNSUPPORTED_PROTOCOL)
        );
        assert_eq!(
            parse_uri("http://127.0.0.1/a"),
            Err(result::UNSUPPORTED_PROTOCOL)
        );
        for bad in [
            "",
            "127.0.0.1/a",
            "ftp2://x/y",
            "coap://",
            "coap://example.com/fw",
            "coap://127.0.0.1:99999/a",
            "coap://127.0.0.1/%zz",
            "coap://u@127.0.0.1/a",
        ] {
            assert_eq!(parse_uri(bad), Err(result::INVALID_URI), "{bad}");
        }
    }

    #[test]
    fn follows_block2_with_early_negotiation_and_the_server_size() {
        let (mut download, first) = Download::start("coap://127.0.0.1/fw", 512).unwrap();
        let asked = block_of(&first);
        assert_eq!((asked.num, asked.size()), (0, 512));
        assert_eq!(message::uri_path(&first).unwrap(), ["fw"]);
        // The server answers with 256-byte blocks: the client follows.
        let step = download.on_response(&content(
            &[1; 256],
            Some(BlockOption::new(0, true, 256).unwrap()),
            Some(b"t1"),
        ));
        let DownloadStep::Request(next) = step else {
            panic!("{step:?}")
        };
        assert_eq!((block_of(&next).num, block_of(&next).size()), (1, 256));
        let step = download.on_response(&content(
            &[2; 100],
            Some(BlockOption::new(1, false, 256).unwrap()),
            Some(b"t1"),
        ));
        assert_eq!(step, DownloadStep::Finished { bytes: 356 });
    }

    #[test]
    fn changed_etag_restarts_then_fails() {
        let (mut download, _) = Download::start("coap://127.0.0.1/fw", 16).unwrap();
        let first = |tag: &[u8]| {
            content(
                &[0; 16],
                Some(BlockOption::new(0, true, 16).unwrap()),
                Some(tag),
            )
        };
        let second = |tag: &[u8]| {
            content(
                &[0; 16],
                Some(BlockOption::new(1, true, 16).unwrap()),
                Some(tag),
            )
        };
        for round in 0..=MAX_RESTARTS {
            assert!(matches!(
                download.on_response(&first(b"a")),
                DownloadStep::Request(_)
            ));
            let step = download.on_response(&second(b"b"));
            if round < MAX_RESTARTS {
                let DownloadStep::Request(again) = step else {
                    panic!("{step:?}")
                };
                assert_eq!(block_of(&again).num, 0, "restart from block 0");
                assert_eq!(download.received(), 0);
            } else {
                assert_eq!(step, DownloadStep::Failed(result::INTEGRITY_FAILURE));
            }
        }
    }

    #[test]
    fn errors_map_to_update_results() {
        let (mut download, _) = Download::start("coap://127.0.0.1/fw", 1024).unwrap();
        assert_eq!(
            download.on_response(&message::empty(ResponseType::NotFound)),
            DownloadStep::Failed(result::INVALID_URI)
        );
        assert_eq!(
            download.on_response(&message::empty(ResponseType::ServiceUnavailable)),
            DownloadStep::Failed(result::CONNECTION_LOST)
        );
        assert_eq!(
            download.on_failure(),
            DownloadStep::Failed(result::CONNECTION_LOST)
        );
        // A whole small body without Block2.
        let (mut download, _) = Download::start("coap://127.0.0.1/fw", 1024).unwrap();
        assert_eq!(
            download.on_response(&content(b"tiny", None, None)),
            DownloadStep::Finished { bytes: 4 }
        );
        // Too big, announced by Size2.
        let (mut download, _) = Download::start("coap://127.0.0.1/fw", 1024).unwrap();
        let mut huge = content(
            &[0; 1024],
            Some(BlockOption::new(0, true, 1024).unwrap()),
            None,
        );
        huge.add_option(
            CoapOption::Size2,
            message::uint_option(u32::try_from(MAX_PACKAGE_BYTES + 1).unwrap()),
        );
        assert_eq!(
            download.on_response(&huge),
            DownloadStep::Failed(result::NOT_ENOUGH_FLASH)
        );
        // A block that does not continue where we are.
        let (mut download, _) = Download::start("coap://127.0.0.1/fw", 1024).unwrap();
        assert_eq!(
            download.on_response(&content(
                &[0; 1024],
                Some(BlockOption::new(3, true, 1024).unwrap()),
                None
            )),
            DownloadStep::Failed(result::CONNECTION_LOST)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Arbitrary URIs map to a download or an Update Result, never a panic.
            #[test]
            fn arbitrary_uris_never_panic(uri in "(coap|coaps|http)?(://)?[\\[\\]0-9a-z.:%@/?&=]{0,40}") {
                if let Err(code) = parse_uri(&uri) {
                    prop_assert!(code == result::INVALID_URI || code == result::UNSUPPORTED_PROTOCOL);
                }
            }

            /// Arbitrary answers end the download or ask for a later block, never a panic,
            /// and a finished download never counts more bytes than arrived.
            #[test]
            fn arbitrary_responses_never_panic(
                answers in proptest::collection::vec(
                    (any::<u8>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
                     proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3)),
                     0usize..1100),
                    1..8),
            ) {
                let (mut download, _) = Download::start("coap://127.0.0.1/fw", 64).unwrap();
                let mut arrived = 0u64;
                for (code, block, etag, length) in answers {
                    let mut packet = Packet::new();
                    packet.header.code = MessageClass::from(code);
                    if let Some(block) = block {
                        packet.add_option(CoapOption::Block2, block);
                    }
                    if let Some(etag) = etag {
                        packet.add_option(CoapOption::ETag, etag);
                    }
                    packet.payload = vec![0; length];
                    arrived += length as u64;
                    match download.on_response(&packet) {
                        DownloadStep::Request(next) => {
                            prop_assert!(next.get_first_option(CoapOption::Block2).is_some());
                        }
                        DownloadStep::Finished { bytes } => {
                            prop_assert!(bytes <= arrived);
                            break;
                        }
                        DownloadStep::Failed(_) => break,
                    }
                }
            }
        }
    }
}
