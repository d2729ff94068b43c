//! Block1/Block2 option values (RFC 7959 §2.2), correct for block numbers up to 2^20 - 1.
//! coap-lite's own codec silently wraps at 4096.
//!
//! The option value is `NUM << 4 | M << 3 | SZX`, big-endian in 0 to 3 bytes; a zero-length
//! value means NUM 0, M 0, SZX 0. Encoding always uses the fewest bytes.

/// The largest block number (20 bits).
pub const MAX_NUM: u32 = (1 << 20) - 1;

/// The largest SZX allowed over UDP (1024-byte blocks).
pub const MAX_SZX: u8 = 6;

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
        let szx = Self::szx_for_size(size)?;
        Self::with_szx(num, more, szx)
    }

    /// Builds an option from its raw fields, checking `num <= 2^20 - 1` and `szx <= 6`.
    pub fn with_szx(num: u32, more: bool, szx: u8) -> Result<Self, BlockError> {
        if num > MAX_NUM {
            return Err(BlockError::NumberTooLarge(num));
        }
        if szx > MAX_SZX {
            return Err(BlockError::ReservedSzx);
        }
        Ok(Self { num, more, szx })
    }

    /// The SZX for a block size in bytes (16..=1024, power of two).
    pub fn szx_for_size(size: usize) -> Result<u8, BlockError> {
        if !(16..=1024).contains(&size) || !size.is_power_of_two() {
            return Err(BlockError::BadSize(size));
        }
        // 16 = 2^4 -> 0, ..., 1024 = 2^10 -> 6.
        u8::try_from(size.trailing_zeros() - 4).map_err(|_| BlockError::BadSize(size))
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
        if bytes.len() > 3 {
            return Err(BlockError::TooLong(bytes.len()));
        }
        let value = bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        let szx = (value & 0x7) as u8;
        if szx > MAX_SZX {
            return Err(BlockError::ReservedSzx);
        }
        Ok(Self {
            num: value >> 4,
            more: value & 0x8 != 0,
            szx,
        })
    }

    /// Encodes the option value in the fewest bytes.
    ///
    /// The fields are public, so an option may hold out-of-range values that [`Self::new`],
    /// [`Self::with_szx`] and [`Self::decode`] would reject; `encode` keeps only the low 20 bits
    /// of `num` and the low 3 bits of `szx` so the result is always at most 3 bytes. Call
    /// [`Self::validate`] first when the fields come from elsewhere.
    pub fn encode(&self) -> Vec<u8> {
        let value =
            ((self.num & MAX_NUM) << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 0x7);
        let bytes = value.to_be_bytes();
        let skip = match value {
            0 => 4,
            1..=0xff => 3,
            0x100..=0xffff => 2,
            _ => 1,
        };
        bytes[skip..].to_vec()
    }

    /// Checks the fields: `num <= 2^20 - 1` and `szx <= 6`.
    pub fn validate(&self) -> Result<(), BlockError> {
        Self::with_szx(self.num, self.more, self.szx).map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_value_is_block_zero() {
        assert_eq!(
            BlockOption::decode(&[]),
            Ok(BlockOption {
                num: 0,
                more: false,
                szx: 0
            })
        );
        assert_eq!(
            BlockOption {
                num: 0,
                more: false,
                szx: 0
            }
            .encode(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn known_answers() {
        // NUM 1, M 1, SZX 6: 0001 1 110 = 0x1e.
        let option = BlockOption::new(1, true, 1024).unwrap();
        assert_eq!(option.encode(), vec![0x1e]);
        // NUM 4096 needs 17 bits of value -> 3 bytes: 0x01 0x00 0x0e (M 1, SZX 6).
        let option = BlockOption::new(4096, true, 1024).unwrap();
        assert_eq!(option.encode(), vec![0x01, 0x00, 0x0e]);
        assert_eq!(BlockOption::decode(&[0x01, 0x00, 0x0e]).unwrap(), option);
        assert_eq!(option.offset(), 4096 * 1024);
        // Largest NUM.
        let option = BlockOption::new(MAX_NUM, false, 16).unwrap();
        assert_eq!(option.encode(), vec![0xff, 0xff, 0xf0]);
        // NUM 15 with SZX 2 fits one byte; NUM 16 needs two.
        assert_eq!(
            BlockOption::new(15, false, 64).unwrap().encode(),
            vec![0xf2]
        );
        assert_eq!(
            BlockOption::new(16, false, 64).unwrap().encode(),
            vec![0x01, 0x02]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            BlockOption::decode(&[0, 0, 0, 0]),
            Err(BlockError::TooLong(4))
        );
        assert_eq!(BlockOption::decode(&[0x07]), Err(BlockError::ReservedSzx));
        assert_eq!(
            BlockOption::new(1 << 20, false, 16),
            Err(BlockError::NumberTooLarge(1 << 20))
        );
        assert_eq!(
            BlockOption::new(0, false, 2048),
            Err(BlockError::BadSize(2048))
        );
        assert_eq!(BlockOption::new(0, false, 8), Err(BlockError::BadSize(8)));
        assert_eq!(
            BlockOption::new(0, false, 100),
            Err(BlockError::BadSize(100))
        );
        assert_eq!(
            BlockOption::with_szx(0, false, 7),
            Err(BlockError::ReservedSzx)
        );
        assert_eq!(
            BlockOption {
                num: 1 << 20,
                more: false,
                szx: 0
            }
            .validate(),
            Err(BlockError::NumberTooLarge(1 << 20))
        );
    }

    #[test]
    fn non_minimal_input_decodes() {
        // A peer may send leading zero bytes; we accept them and re-encode minimally.
        let option = BlockOption::decode(&[0x00, 0x00, 0x1e]).unwrap();
        assert_eq!(
            option,
            BlockOption {
                num: 1,
                more: true,
                szx: 6
            }
        );
        assert_eq!(option.encode(), vec![0x1e]);
    }

    #[test]
    fn sizes_map_to_szx() {
        for (szx, size) in [16usize, 32, 64, 128, 256, 512, 1024]
            .into_iter()
            .enumerate()
        {
            let option = BlockOption::new(3, false, size).unwrap();
            assert_eq!(usize::from(option.szx), szx);
            assert_eq!(option.size(), size);
        }
    }

    proptest! {
        #[test]
        fn round_trip(num in 0..=MAX_NUM, more: bool, szx in 0..=MAX_SZX) {
            let option = BlockOption::with_szx(num, more, szx).unwrap();
            let bytes = option.encode();
            prop_assert!(bytes.len() <= 3);
            prop_assert!(bytes.first() != Some(&0), "not minimal: {:?}", bytes);
            prop_assert_eq!(BlockOption::decode(&bytes), Ok(option));
        }

        #[test]
        fn round_trip_above_4096(num in 4096..=MAX_NUM, more: bool, szx in 0..=MAX_SZX) {
            let option = BlockOption::with_szx(num, more, szx).unwrap();
            prop_assert_eq!(BlockOption::decode(&option.encode()).unwrap().num, num);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..6)) {
            if let Ok(option) = BlockOption::decode(&bytes) {
                prop_assert!(option.num <= MAX_NUM);
                prop_assert!(option.szx <= MAX_SZX);
            }
        }
    }
}
