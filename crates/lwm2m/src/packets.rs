//! Helpers to build and read CoAP packets the way LwM2M uses them, so that devices and the
//! server do not each re-implement option handling.

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};

/// A request with `method` on the Uri-Path `segments` (type, MID and token are set by the
/// message layer).
pub fn new_request<S: AsRef<str>>(method: RequestType, segments: &[S]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    for segment in segments {
        packet.add_option(CoapOption::UriPath, segment.as_ref().as_bytes().to_vec());
    }
    packet
}

/// A response with `code` and no payload.
pub fn new_response(code: ResponseType) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Response(code);
    packet
}

fn string_options(packet: &Packet, option: CoapOption) -> Vec<String> {
    packet
        .get_option(option)
        .map(|values| {
            values
                .iter()
                .map(|value| String::from_utf8_lossy(value).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The Uri-Path segments.
pub fn uri_path(packet: &Packet) -> Vec<String> {
    string_options(packet, CoapOption::UriPath)
}

/// The Uri-Query items.
pub fn uri_query(packet: &Packet) -> Vec<String> {
    string_options(packet, CoapOption::UriQuery)
}

/// The Location-Path segments.
pub fn location_path(packet: &Packet) -> Vec<String> {
    string_options(packet, CoapOption::LocationPath)
}

/// Adds Uri-Query items.
pub fn add_queries<S: AsRef<str>>(packet: &mut Packet, queries: &[S]) {
    for query in queries {
        packet.add_option(CoapOption::UriQuery, query.as_ref().as_bytes().to_vec());
    }
}

fn uint_option(packet: &Packet, option: CoapOption) -> Option<u32> {
    let bytes = packet.get_first_option(option)?;
    if bytes.len() > 4 {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u32, |value, byte| (value << 8) | u32::from(*byte)),
    )
}

fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let first = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

/// The Content-Format number, if present and well-formed.
pub fn content_format(packet: &Packet) -> Option<u16> {
    uint_option(packet, CoapOption::ContentFormat).and_then(|value| u16::try_from(value).ok())
}

/// Sets the Content-Format number.
pub fn set_content_format(packet: &mut Packet, format: u16) {
    packet.clear_option(CoapOption::ContentFormat);
    packet.add_option(CoapOption::ContentFormat, encode_uint(u32::from(format)));
}

/// The Accept number, if present and well-formed.
pub fn accept(packet: &Packet) -> Option<u16> {
    uint_option(packet, CoapOption::Accept).and_then(|value| u16::try_from(value).ok())
}

/// Sets the Accept number.
pub fn set_accept(packet: &mut Packet, format: u16) {
    packet.clear_option(CoapOption::Accept);
    packet.add_option(CoapOption::Accept, encode_uint(u32::from(format)));
}

/// The Observe value (0..2^24), if present and well-formed.
pub fn observe(packet: &Packet) -> Option<u32> {
    uint_option(packet, CoapOption::Observe).filter(|value| *value < 1 << 24)
}

/// Sets the Observe value, masked to 24 bits (RFC 7641 §4.4; coap-lite does not mask).
pub fn set_observe(packet: &mut Packet, sequence: u32) {
    packet.clear_option(CoapOption::Observe);
    packet.add_option(CoapOption::Observe, encode_uint(sequence & 0x00FF_FFFF));
}

/// The response code, if the packet is a response.
pub fn response_code(packet: &Packet) -> Option<ResponseType> {
    match packet.header.code {
        MessageClass::Response(code) => Some(code),
        _ => None,
    }
}

/// The request method, if the packet is a request.
pub fn method(packet: &Packet) -> Option<RequestType> {
    match packet.header.code {
        MessageClass::Request(method) => Some(method),
        _ => None,
    }
}

/// `"2.05"`-style text of a packet's code.
pub fn code_text(packet: &Packet) -> String {
    let raw: u8 = packet.header.code.into();
    format!("{}.{:02}", raw >> 5, raw & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip() {
        let mut packet = new_request(RequestType::Get, &["dev0", "3303", "0", "5700"]);
        set_accept(&mut packet, 11542);
        set_content_format(&mut packet, 0);
        set_observe(&mut packet, (1 << 24) + 5);
        add_queries(&mut packet, &["pmin=10"]);
        let bytes = packet.to_bytes().unwrap();
        let decoded = Packet::from_bytes(&bytes).unwrap();
        assert_eq!(uri_path(&decoded), ["dev0", "3303", "0", "5700"]);
        assert_eq!(accept(&decoded), Some(11542));
        assert_eq!(content_format(&decoded), Some(0));
        assert_eq!(observe(&decoded), Some(5));
        assert_eq!(uri_query(&decoded), ["pmin=10"]);
        assert_eq!(method(&decoded), Some(RequestType::Get));
        assert_eq!(code_text(&decoded), "0.01");
    }

    #[test]
    fn zero_is_encoded_as_empty_option() {
        let mut packet = new_response(ResponseType::Content);
        set_content_format(&mut packet, 0);
        assert_eq!(
            packet
                .get_first_option(CoapOption::ContentFormat)
                .map(Vec::len),
            Some(0)
        );
        assert_eq!(content_format(&packet), Some(0));
        assert_eq!(code_text(&packet), "2.05");
    }
}
