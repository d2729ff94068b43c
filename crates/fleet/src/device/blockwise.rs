//! Block-wise transfers on the device side (RFC 7959).
//!
//! - Block1 (server → device bodies, e.g. a firmware push or a file upload) is reassembled
//!   before the request is handled: 2.31 Continue for each non-final block, 4.08 Request
//!   Entity Incomplete for a missing or out-of-order block, 4.13 with Size1 when the body
//!   would exceed [`MAX_UPLOAD_BYTES`] (also at once when the first block announces a larger
//!   Size1).
//! - Block2 (device → server bodies) slices a 2.05 whose payload is larger than the block
//!   size asked for (or [`DEFAULT_BLOCK_SIZE`]); every slice carries an ETag of the whole
//!   representation, block 0 (or a request with Size2) carries Size2. The whole body is kept
//!   for later blocks in a small cache ([`MAX_CACHED_BODIES`] per device, [`BODY_LIFETIME`]);
//!   on a miss the read is simply repeated, and the ETag tells the client whether the
//!   representation changed meanwhile.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::block::BlockOption;
use tokio::time::Instant;

use super::{etag, message};

/// Largest body one upload may reach (4.13 beyond).
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;

/// Uploads in progress per device; starting another drops the oldest.
pub const MAX_UPLOADS: usize = 4;

/// Responses larger than this are split into Block2 slices even when not asked to.
pub const DEFAULT_BLOCK_SIZE: usize = 1024;

/// Whole Block2 bodies kept per device for the following blocks.
pub const MAX_CACHED_BODIES: usize = 2;

/// How long a cached Block2 body is kept after its last use.
pub const BODY_LIFETIME: Duration = Duration::from_secs(120);

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
    /// A non-final block was stored: answer with this 2.31. `first` is true for block 0.
    Continue {
        /// The 2.31 response.
        response: Packet,
        /// Whether this was the first block of a new upload.
        first: bool,
    },
    /// The final block arrived: handle `body` as the request payload, and echo `option`.
    Complete {
        /// The reassembled payload.
        body: Vec<u8>,
        /// The Block1 option to echo in the final response.
        option: BlockOption,
    },
    /// Answer with this response (an error).
    Fail(Packet),
}

/// Uploads in progress, keyed by method and path.
#[derive(Debug, Clone, Default)]
pub(super) struct Uploads {
    map: BTreeMap<String, Upload>,
    counter: u64,
}

fn too_large() -> Packet {
    let mut response = message::empty(ResponseType::RequestEntityTooLarge);
    let limit = u32::try_from(MAX_UPLOAD_BYTES).unwrap_or(u32::MAX);
    response.add_option(CoapOption::Size1, message::uint_option(limit));
    response
}

impl Uploads {
    /// Takes one request that may carry a Block1 option.
    pub(super) fn accept(&mut self, request: &Packet) -> Block1Step {
        let Some(raw) = request.get_first_option(CoapOption::Block1) else {
            return Block1Step::Whole;
        };
        let Ok(option) = BlockOption::decode(raw) else {
            return Block1Step::Fail(message::empty(ResponseType::BadOption));
        };
        let key = upload_key(request);
        if option.num == 0 {
            let announced = request
                .get_first_option(CoapOption::Size1)
                .map(|raw| raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)));
            if announced.is_some_and(|size| size > MAX_UPLOAD_BYTES as u64) {
                self.map.remove(&key);
                return Block1Step::Fail(too_large());
            }
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
            return Block1Step::Fail(message::empty(ResponseType::RequestEntityIncomplete));
        };
        if option.offset() != upload.body.len() {
            self.map.remove(&key);
            return Block1Step::Fail(message::empty(ResponseType::RequestEntityIncomplete));
        }
        if option.more && request.payload.len() != option.size() {
            self.map.remove(&key);
            return Block1Step::Fail(message::empty(ResponseType::BadRequest));
        }
        if upload.body.len() + request.payload.len() > MAX_UPLOAD_BYTES {
            self.map.remove(&key);
            return Block1Step::Fail(too_large());
        }
        upload.body.extend_from_slice(&request.payload);
        if option.more {
            let mut response = message::empty(ResponseType::Continue);
            response.add_option(CoapOption::Block1, option.encode());
            return Block1Step::Continue {
                response,
                first: option.num == 0,
            };
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

/// The cache key of a GET's (or FETCH's) representation: path, Accept and, for a FETCH,
/// the request body (RFC 8132 §2.3.2: every block request repeats it).
fn body_key(request: &Packet) -> String {
    let mut key = upload_key(request);
    if request.header.code == MessageClass::Request(RequestType::Fetch) {
        key.push('#');
        for byte in &request.payload {
            key.push_str(&format!("{byte:02x}"));
        }
    }
    if let Some(accept) = request.get_first_option(CoapOption::Accept) {
        key.push('?');
        for byte in accept {
            key.push_str(&format!("{byte:02x}"));
        }
    }
    key
}

#[derive(Debug, Clone)]
struct CachedBody {
    key: String,
    content_format: Option<Vec<u8>>,
    payload: Vec<u8>,
    tag: [u8; 8],
    expires: Instant,
}

/// Whole Block2 bodies of recent reads, bounded and expiring.
#[derive(Debug, Clone, Default)]
pub(super) struct BodyCache {
    entries: VecDeque<CachedBody>,
}

impl BodyCache {
    /// Answers a GET (or FETCH) for a block after the first from a cached body, when there
    /// is one.
    pub(super) fn serve(&mut self, now: Instant, request: &Packet) -> Option<Packet> {
        let code = request.header.code;
        if code != MessageClass::Request(RequestType::Get)
            && code != MessageClass::Request(RequestType::Fetch)
        {
            return None;
        }
        let block = BlockOption::decode(request.get_first_option(CoapOption::Block2)?).ok()?;
        if block.num == 0 {
            return None;
        }
        self.entries.retain(|entry| entry.expires > now);
        let key = body_key(request);
        let entry = self.entries.iter_mut().find(|entry| entry.key == key)?;
        entry.expires = now + BODY_LIFETIME;
        Some(slice(
            request,
            entry.content_format.as_deref(),
            &entry.payload,
            entry.tag,
            block,
        ))
    }

    fn store(&mut self, now: Instant, key: String, response: Packet, tag: [u8; 8]) {
        self.entries
            .retain(|entry| entry.key != key && entry.expires > now);
        while self.entries.len() >= MAX_CACHED_BODIES {
            self.entries.pop_front();
        }
        self.entries.push_back(CachedBody {
            key,
            content_format: response
                .get_first_option(CoapOption::ContentFormat)
                .cloned(),
            payload: response.payload,
            tag,
            expires: now + BODY_LIFETIME,
        });
    }
}

/// Cuts a 2.05 response into the Block2 slice the request asks for (or the first
/// [`DEFAULT_BLOCK_SIZE`] bytes when it asks nothing and the payload is larger), keeping the
/// whole body in `cache` for the next blocks. Other responses pass unchanged.
pub(super) fn slice_response(
    now: Instant,
    cache: &mut BodyCache,
    request: &Packet,
    response: Packet,
) -> Packet {
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
    let block_size = requested.map_or(DEFAULT_BLOCK_SIZE, |block| block.size());
    if response.payload.len() <= block_size && requested.is_none() {
        return response;
    }
    let block = requested.unwrap_or(BlockOption {
        num: 0,
        more: false,
        szx: 6,
    });
    let content_format = response
        .get_first_option(CoapOption::ContentFormat)
        .cloned();
    let tag = etag::etag(
        content_format.as_deref().unwrap_or_default(),
        &response.payload,
    );
    let sliced = slice(
        request,
        content_format.as_deref(),
        &response.payload,
        tag,
        block,
    );
    if response.payload.len() > block_size {
        cache.store(now, body_key(request), response, tag);
    }
    sliced
}

/// The 2.05 carrying block `block` of `payload`, with ETag `tag`, Block2, and Size2 on block
/// 0 (or when the request asks for it).
fn slice(
    request: &Packet,
    content_format: Option<&[u8]>,
    payload: &[u8],
    tag: [u8; 8],
    block: BlockOption,
) -> Packet {
    let total = payload.len();
    let start = block.offset();
    if start > total || (start == total && total > 0) {
        return message::empty(ResponseType::BadOption);
    }
    let end = (start + block.size()).min(total);
    let mut sliced = message::empty(ResponseType::Content);
    if let Some(format) = content_format {
        sliced.add_option(CoapOption::ContentFormat, format.to_vec());
    }
    sliced.payload = payload.get(start..end).unwrap_or_default().to_vec();
    let option = BlockOption {
        more: end < total,
        ..block
    };
    sliced.add_option(CoapOption::ETag, tag.to_vec());
    sliced.add_option(CoapOption::Block2, option.encode());
    if block.num == 0 || request.get_first_option(CoapOption::Size2).is_some() {
        let size = u32::try_from(total).unwrap_or(u32::MAX);
        sliced.add_option(CoapOption::Size2, message::uint_option(size));
    }
    sliced
}
