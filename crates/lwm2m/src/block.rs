//! Block1/Block2 option values (RFC 7959 §2.2), correct for block numbers up to 2^20 - 1.
//! coap-lite's own codec silently wraps at 4096.
//!
//! TO BE IMPLEMENTED by the codec work. Keep the public surface.

/// A decoded Block1 or Block2 option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOption {
    /// Block number, 0..2^20.
    pub num: u32,
    /// More blocks follow.
    pub more: bool,
    /// Size exponent: block size is 2^(szx+4). 0..=6 (7 is BERT, TCP only).
    pub szx: u8,
}

/// Why a Block option value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Option longer than 3 bytes.
    #[error("Block option is {0} bytes long: at most 3")]
    TooLong(usize),
    /// SZX 7 (BERT) is reserved over UDP.
    #[error("Block option SZX 7 (BERT) is not allowed over UDP")]
    ReservedSzx,
    /// Block number beyond 2^20 - 1.
    #[error("block number {0} exceeds 2^20 - 1")]
    NumberTooLarge(u32),
    /// Size not a power of two in 16..=1024.
    #[error("block size {0} is not a power of two in 16..=1024")]
    BadSize(usize),
}

impl BlockOption {
    /// Builds an option for block `num` of `size` bytes (16..=1024, power of two).
    pub fn new(num: u32, more: bool, size: usize) -> Result<Self, BlockError> {
        let _ = (num, more);
        Err(BlockError::BadSize(size))
    }

    /// Block size in bytes.
    pub fn size(&self) -> usize {
        1usize << (self.szx + 4)
    }

    /// Byte offset of this block in the body.
    pub fn offset(&self) -> usize {
        self.num as usize * self.size()
    }

    /// Decodes an option value (0 to 3 bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self, BlockError> {
        Err(BlockError::TooLong(bytes.len()))
    }

    /// Encodes the option value in the fewest bytes.
    pub fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
}
