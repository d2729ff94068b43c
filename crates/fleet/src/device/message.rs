//! Reading request options and building response packets.

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};
use fleetbench_lwm2m::content_format::ContentFormat;

/// A Content-Format or Accept option value, as found in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatOption {
    /// The option is absent.
    Absent,
    /// A format we know.
    Known(ContentFormat),
    /// A number we do not speak (or a malformed option value).
    Unknown(u32),
}

/// Reads a uint option (Content-Format, Accept) and maps it to a known format.
pub fn format_option(packet: &Packet, option: CoapOption) -> FormatOption {
    let Some(bytes) = packet.get_first_option(option) else {
        return FormatOption::Absent;
    };
    if bytes.len() > 2 {
        return FormatOption::Unknown(u32::MAX);
    }
    let number = bytes.iter().fold(0u16, |acc, &b| (acc << 8) | u16::from(b));
    match ContentFormat::from_number(number) {
        Some(format) => FormatOption::Known(format),
        None => FormatOption::Unknown(u32::from(number)),
    }
}

/// The Uri-Path segments, or `None` when one is not UTF-8.
pub fn uri_path(packet: &Packet) -> Option<Vec<String>> {
    packet
        .get_option(CoapOption::UriPath)
        .map(|segments| {
            segments
                .iter()
                .map(|s| String::from_utf8(s.clone()).ok())
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()))
}

/// The Uri-Query values, or `None` when one is not UTF-8.
pub fn uri_query(packet: &Packet) -> Option<Vec<String>> {
    packet
        .get_option(CoapOption::UriQuery)
        .map(|values| {
            values
                .iter()
                .map(|s| String::from_utf8(s.clone()).ok())
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or(Some(Vec::new()))
}

/// Minimal big-endian encoding of a uint option value.
pub fn uint_option(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    bytes[skip..].to_vec()
}

/// A response with code `code` and no payload.
pub fn empty(code: ResponseType) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Response(code);
    packet
}

/// A 2.05 Content response carrying `payload` in `format`.
pub fn content(format: ContentFormat, payload: Vec<u8>) -> Packet {
    let mut packet = empty(ResponseType::Content);
    packet.add_option(
        CoapOption::ContentFormat,
        uint_option(u32::from(format.number())),
    );
    packet.payload = payload;
    packet
}

/// The response code of a packet, if it is a response.
pub fn response_code(packet: &Packet) -> Option<ResponseType> {
    match packet.header.code {
        MessageClass::Response(code) => Some(code),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn uint_options_are_minimal() {
        assert_eq!(uint_option(0), Vec::<u8>::new());
        assert_eq!(uint_option(40), vec![40]);
        assert_eq!(uint_option(11542), vec![0x2d, 0x16]);
    }

    #[test]
    fn format_options() {
        let mut packet = Packet::new();
        assert_eq!(
            format_option(&packet, CoapOption::Accept),
            FormatOption::Absent
        );
        packet.add_option(CoapOption::Accept, vec![]);
        assert_eq!(
            format_option(&packet, CoapOption::Accept),
            FormatOption::Known(ContentFormat::TextPlain)
        );
        packet.clear_option(CoapOption::Accept);
        packet.add_option(CoapOption::Accept, vec![0x2d, 0x16]);
        assert_eq!(
            format_option(&packet, CoapOption::Accept),
            FormatOption::Known(ContentFormat::Tlv)
        );
        packet.clear_option(CoapOption::Accept);
        packet.add_option(CoapOption::Accept, vec![0x01, 0x00]);
        assert_eq!(
            format_option(&packet, CoapOption::Accept),
            FormatOption::Unknown(256)
        );
        packet.clear_option(CoapOption::Accept);
        packet.add_option(CoapOption::Accept, vec![1, 2, 3]);
        assert!(matches!(
            format_option(&packet, CoapOption::Accept),
            FormatOption::Unknown(_)
        ));
    }
}
