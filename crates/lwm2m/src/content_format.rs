//! CoAP Content-Format numbers used by LwM2M.

/// A content format fleetbench speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ContentFormat {
    /// `text/plain;charset=utf-8` (0).
    TextPlain = 0,
    /// `application/link-format` (40).
    LinkFormat = 40,
    /// `application/octet-stream` (42).
    Opaque = 42,
    /// `application/cbor` (60).
    Cbor = 60,
    /// `application/senml+json` (110).
    SenmlJson = 110,
    /// `application/senml+cbor` (112).
    SenmlCbor = 112,
    /// `application/vnd.oma.lwm2m+tlv` (11542).
    Tlv = 11542,
    /// `application/vnd.oma.lwm2m+json` (11543), legacy.
    Lwm2mJson = 11543,
}

impl ContentFormat {
    /// Maps a Content-Format number to a known format; `None` for anything else.
    /// The pre-IANA numbers 1542/1543 still seen in the wild map to TLV/LwM2M JSON.
    pub fn from_number(number: u16) -> Option<Self> {
        Some(match number {
            0 => Self::TextPlain,
            40 => Self::LinkFormat,
            42 => Self::Opaque,
            60 => Self::Cbor,
            110 => Self::SenmlJson,
            112 => Self::SenmlCbor,
            11542 | 1542 => Self::Tlv,
            11543 | 1543 => Self::Lwm2mJson,
            _ => return None,
        })
    }

    /// The Content-Format number.
    pub fn number(self) -> u16 {
        self as u16
    }
}
