//! Block-wise transfers on the device side (RFC 7959): Block1 uploads are reassembled before
//! the request is handled (2.31 Continue for each non-final block), and large responses are
//! served in Block2 slices (stateless: the read is repeated for each block).

use std::collections::BTreeMap;

use coap_lite::{CoapOption, Packet, ResponseType};
use fleetbench_lwm2m::block::BlockOption;

use super::message;

/// Largest body one upload may reach (4.13 beyond).
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Uploads in progress per device; starting another drops the oldest.
pub const MAX_UPLOADS: usize = 4;

/// Responses larger than this are split into Block2 slices even when not asked to.
pub const DEFAULT_BLOCK_SIZE: usize = 1024;

#[derive(Debug, Clone)]
struct Upload {
    started: u64,
    body: Vec<u8>,
}

/// What to do with one Block1 request.
#[derive(Debug)]
pub(super) enum Block1Step {
    /// Not a Block1 request: handle as is.
    Whole,
    /// A non-final block was stored: answer with this 2.31.
    Continue(Packet),
    /// The final block arrived: handle `body` as the request payload, and echo `option`.
    Complete {
        /// The reassembled payload.
        body: Vec<u8>,
        /// The Block1 option to echo in the final response.
        option: BlockOption,
    },
    /// Answer with this error.
    Fail(ResponseType),
}

/// Uploads in progress, keyed by method and path.
#[derive(Debug, Clone, Default)]
pub(super) struct Uploads {
    map: BTreeMap<String, Upload>,
    counter: u64,
}

impl Uploads {
    /// Takes one request that may carry a Block1 option.
    pub(super) fn accept(&mut self, request: &Packet) -> Block1Step {
        let Some(raw) = request.get_first_option(CoapOption::Block1) else {
            return Block1Step::Whole;
        };
        let Ok(option) = BlockOption::decode(raw) else {
            return Block1Step::Fail(ResponseType::BadOption);
        };
        let key = upload_key(request);
        if option.num == 0 {
            let full = !self.map.contains_key(&key) && self.map.len() >= MAX_UPLOADS;
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, upload)| upload.started)
                .map(|(key, _)| key.clone());
            if let (true, Some(oldest)) = (full, oldest) {
                self.map.remove(&oldest);
            }
            self.counter += 1;
            self.map.insert(
                key.clone(),
                Upload {
                    started: self.counter,
                    body: Vec::new(),
                },
            );
        }
        let Some(upload) = self.map.get_mut(&key) else {
            return Block1Step::Fail(ResponseType::RequestEntityIncomplete);
        };
        if option.offset() != upload.body.len() {
            self.map.remove(&key);
            return Block1Step::Fail(ResponseType::RequestEntityIncomplete);
        }
        if option.more && request.payload.len() != option.size() {
            self.map.remove(&key);
            return Block1Step::Fail(ResponseType::BadRequest);
        }
        if upload.body.len() + request.payload.len() > MAX_UPLOAD_BYTES {
            self.map.remove(&key);
            return Block1Step::Fail(ResponseType::RequestEntityTooLarge);
        }
        upload.body.extend_from_slice(&request.payload);
        if option.more {
            let mut response = message::empty(ResponseType::Continue);
            response.add_option(CoapOption::Block1, option.encode());
            return Block1Step::Continue(response);
        }
        let body = self.map.remove(&key).map(|u| u.body).unwrap_or_default();
        Block1Step::Complete { body, option }
    }
}

fn upload_key(request: &Packet) -> String {
    let mut key = format!("{:?}", request.header.code);
    for segment in request
        .get_option(CoapOption::UriPath)
        .into_iter()
        .flatten()
    {
        key.push('/');
        key.push_str(&String::from_utf8_lossy(segment));
    }
    key
}

/// Cuts a 2.05 response into the Block2 slice the request asks for (or the first 1024 bytes
/// when it asks nothing and the payload is larger). Other responses pass unchanged.
pub(super) fn slice_response(request: &Packet, response: Packet) -> Packet {
    if message::response_code(&response) != Some(ResponseType::Content) {
        return response;
    }
    let requested = match request.get_first_option(CoapOption::Block2) {
        None => None,
        Some(raw) => match BlockOption::decode(raw) {
            Ok(option) => Some(option),
            Err(_) => return message::empty(ResponseType::BadOption),
        },
    };
    let default = BlockOption {
        num: 0,
        more: false,
        szx: 6,
    };
    let block = match requested {
        Some(option) => option,
        None if response.payload.len() > DEFAULT_BLOCK_SIZE => default,
        None => return response,
    };
    let total = response.payload.len();
    let start = block.offset();
    if start > total || (start == total && total > 0) {
        return message::empty(ResponseType::BadOption);
    }
    let end = (start + block.size()).min(total);
    let mut sliced = response;
    let payload = sliced.payload.get(start..end).unwrap_or_default().to_vec();
    sliced.payload = payload;
    let option = BlockOption {
        more: end < total,
        ..block
    };
    sliced.add_option(CoapOption::Block2, option.encode());
    if block.num == 0 {
        let size = u32::try_from(total).unwrap_or(u32::MAX);
        sliced.add_option(CoapOption::Size2, message::uint_option(size));
    }
    sliced
}
