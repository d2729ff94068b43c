//! Small message-building helpers.

use coap_lite::{CoapOption, MessageClass, MessageType, Packet};

/// An empty ACK or RST for message ID `mid` (4 bytes, no token).
pub(crate) fn empty_message(kind: MessageType, mid: u16) -> Vec<u8> {
    let type_bits: u8 = match kind {
        MessageType::Confirmable => 0,
        MessageType::NonConfirmable => 1,
        MessageType::Acknowledgement => 2,
        MessageType::Reset => 3,
    };
    let [high, low] = mid.to_be_bytes();
    vec![0x40 | (type_bits << 4), 0x00, high, low]
}

/// The first option number that is critical (odd) and unknown to us, if any
/// (RFC 7252 §5.4.1).
pub(crate) fn unrecognised_critical_option(packet: &Packet) -> Option<u16> {
    packet.options().map(|(number, _)| *number).find(|number| {
        number % 2 == 1 && matches!(CoapOption::from(*number), CoapOption::Unknown(_))
    })
}

/// Message type bits read straight from the first header byte.
pub(crate) fn raw_type(first_byte: u8) -> MessageType {
    match (first_byte >> 4) & 0x03 {
        0 => MessageType::Confirmable,
        1 => MessageType::NonConfirmable,
        2 => MessageType::Acknowledgement,
        _ => MessageType::Reset,
    }
}

/// Whether a message code is an unknown method code (0.08..0.31).
pub(crate) fn is_unknown_method(class: MessageClass) -> bool {
    matches!(class, MessageClass::Reserved(code) if code >> 5 == 0)
}
