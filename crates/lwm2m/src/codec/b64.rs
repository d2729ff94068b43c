//! Base64 engines: standard alphabet for text/plain opaque values (LwM2M 1.1 §7.4.1), URL-safe
//! alphabet without padding for SenML JSON `vd` (RFC 8428 §4.3). Decoders accept either padding.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT_PADDED: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const LENIENT_UNPADDED: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);

/// Standard alphabet, padded on encode, padding optional on decode.
pub(crate) const STANDARD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, LENIENT_PADDED);

/// URL-safe alphabet, unpadded on encode, padding optional on decode.
pub(crate) const URL_SAFE: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT_UNPADDED);
