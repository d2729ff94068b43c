//! The sending side of a Block1 transfer (RFC 7959 §2.5, §2.9.3) as a sans-IO state machine:
//! a request whose payload is larger than one block goes out as a series of requests, each
//! with a Block1 option and one slice of the body.
//!
//! - Each non-final block must be answered 2.31 Continue echoing its Block1 option; the
//!   answer to the final block is the answer to the whole request.
//! - A 2.31 with a smaller SZX than we sent means "use smaller blocks from now on": the next
//!   block number is recomputed from the byte offset reached.
//! - A 4.13 Request Entity Too Large carrying a Block1 option with a smaller SZX means "start
//!   again with blocks of that size"; any other 4.13 is the final answer.
//! - Any other answer ends the transfer and is handed back as the final answer.
//!
//! The first block also carries Size1, the size of the whole body (RFC 7959 §4).

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};

use crate::block::{BlockError, BlockOption};

/// What to do after an answer to one block.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadStep {
    /// Send this request (the next block, or block 0 again with smaller blocks).
    Send(Packet),
    /// The transfer is over: this is the answer to the whole request (success or error).
    Done(Packet),
    /// The peer broke the protocol; the reason names the option and the values seen.
    Failed(String),
}

/// One Block1 transfer in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockUpload {
    template: Packet,
    body: Vec<u8>,
    sent: BlockOption,
}

impl BlockUpload {
    /// Starts sending `request`. When its payload fits one block of `block_size` bytes (a
    /// power of two in 16..=1024), it is returned as is and no transfer is needed; otherwise
    /// the first block is returned together with the transfer.
    pub fn start(request: Packet, block_size: usize) -> Result<(Packet, Option<Self>), BlockError> {
        let szx = BlockOption::szx_for_size(block_size)?;
        if request.payload.len() <= block_size {
            return Ok((request, None));
        }
        let mut template = request;
        let body = std::mem::take(&mut template.payload);
        template.clear_option(CoapOption::Block1);
        template.clear_option(CoapOption::Size1);
        let mut upload = Self {
            template,
            body,
            sent: BlockOption::with_szx(0, true, szx)?,
        };
        let first = upload.block(0, szx)?;
        Ok((first, Some(upload)))
    }

    /// The size of the whole body.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The Block1 option of the block sent last.
    pub fn last_sent(&self) -> BlockOption {
        self.sent
    }

    /// Builds block `num` of `2^(szx+4)` bytes and records it as sent.
    fn block(&mut self, num: u32, szx: u8) -> Result<Packet, BlockError> {
        let probe = BlockOption::with_szx(num, false, szx)?;
        let start = probe.offset().min(self.body.len());
        let end = (start + probe.size()).min(self.body.len());
        let more = end < self.body.len();
        let option = BlockOption::with_szx(num, more, szx)?;
        let mut packet = self.template.clone();
        packet.add_option(CoapOption::Block1, option.encode());
        if num == 0 {
            let size = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
            packet.add_option(CoapOption::Size1, minimal_uint(size));
        }
        packet.payload = self.body.get(start..end).unwrap_or_default().to_vec();
        self.sent = option;
        Ok(packet)
    }

    /// Feeds the answer to the block sent last.
    pub fn on_response(&mut self, response: &Packet) -> UploadStep {
        let code = match response.header.code {
            MessageClass::Response(code) => code,
            other => return UploadStep::Failed(format!("expected a response, got code {other}")),
        };
        let echoed = response
            .get_first_option(CoapOption::Block1)
            .map(|raw| BlockOption::decode(raw));
        match code {
            ResponseType::Continue => {
                let Some(Ok(echoed)) = echoed else {
                    return UploadStep::Failed(
                        "2.31 Continue without a valid Block1 option".to_owned(),
                    );
                };
                if echoed.num != self.sent.num && echoed.szx >= self.sent.szx {
                    return UploadStep::Failed(format!(
                        "2.31 Continue for Block1 block {} while block {} was sent",
                        echoed.num, self.sent.num
                    ));
                }
                if !self.sent.more {
                    return UploadStep::Failed(format!(
                        "2.31 Continue after the last Block1 block {}",
                        self.sent.num
                    ));
                }
                // Continue at the byte reached, in the peer's size if it asked for smaller.
                let reached = self.sent.offset() + self.sent.size();
                let szx = echoed.szx.min(self.sent.szx);
                let size = 1usize << (szx + 4);
                let num = u32::try_from(reached / size).unwrap_or(u32::MAX);
                self.step(num, szx)
            }
            ResponseType::RequestEntityTooLarge => match echoed {
                Some(Ok(preferred)) if preferred.szx < self.sent.szx => self.step(0, preferred.szx),
                _ => UploadStep::Done(response.clone()),
            },
            _ => UploadStep::Done(response.clone()),
        }
    }

    fn step(&mut self, num: u32, szx: u8) -> UploadStep {
        match self.block(num, szx) {
            Ok(packet) => UploadStep::Send(packet),
            Err(err) => UploadStep::Failed(format!("cannot build Block1 block {num}: {err}")),
        }
    }
}

fn minimal_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    bytes[skip..].to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::packets::{new_request, new_response};
    use coap_lite::RequestType;

    fn request(len: usize) -> Packet {
        let mut packet = new_request(RequestType::Post, &["rd"]);
        packet.payload = (0..len).map(|i| (i % 251) as u8).collect();
        packet
    }

    fn block_of(packet: &Packet) -> BlockOption {
        BlockOption::decode(packet.get_first_option(CoapOption::Block1).unwrap()).unwrap()
    }

    fn answer(code: ResponseType, block: Option<BlockOption>) -> Packet {
        let mut packet = new_response(code);
        if let Some(block) = block {
            packet.add_option(CoapOption::Block1, block.encode());
        }
        packet
    }

    #[test]
    fn small_payload_goes_whole() {
        let (packet, upload) = BlockUpload::start(request(1024), 1024).unwrap();
        assert!(upload.is_none());
        assert_eq!(packet.payload.len(), 1024);
        assert!(packet.get_first_option(CoapOption::Block1).is_none());
    }

    #[test]
    fn large_payload_goes_in_blocks_and_reassembles() {
        let whole = request(2500);
        let (first, upload) = BlockUpload::start(whole.clone(), 1024).unwrap();
        let mut upload = upload.unwrap();
        assert_eq!(
            first.get_first_option(CoapOption::Size1).unwrap(),
            &minimal_uint(2500)
        );
        let mut received = first.payload.clone();
        let mut packet = first;
        let mut nums = vec![block_of(&packet).num];
        while block_of(&packet).more {
            let step = upload.on_response(&answer(ResponseType::Continue, Some(block_of(&packet))));
            let UploadStep::Send(next) = step else {
                panic!("expected the next block, got {step:?}");
            };
            assert!(next.get_first_option(CoapOption::Size1).is_none());
            received.extend_from_slice(&next.payload);
            nums.push(block_of(&next).num);
            packet = next;
        }
        assert_eq!(nums, [0, 1, 2]);
        assert_eq!(received, whole.payload);
        let done = answer(ResponseType::Created, Some(block_of(&packet)));
        assert_eq!(upload.on_response(&done), UploadStep::Done(done));
    }

    #[test]
    fn smaller_size_in_continue_is_followed() {
        let (_, upload) = BlockUpload::start(request(3000), 1024).unwrap();
        let mut upload = upload.unwrap();
        // The server took block 0 (1024 bytes) and asks for 256-byte blocks: next is block 4.
        let step = upload.on_response(&answer(
            ResponseType::Continue,
            Some(BlockOption::new(0, true, 256).unwrap()),
        ));
        let UploadStep::Send(next) = step else {
            panic!("{step:?}")
        };
        let option = block_of(&next);
        assert_eq!((option.num, option.size(), option.more), (4, 256, true));
        assert_eq!(next.payload, request(3000).payload[1024..1280]);
    }

    #[test]
    fn too_large_with_smaller_size_restarts_and_without_ends() {
        let (_, upload) = BlockUpload::start(request(3000), 1024).unwrap();
        let mut upload = upload.unwrap();
        let step = upload.on_response(&answer(
            ResponseType::RequestEntityTooLarge,
            Some(BlockOption::new(0, true, 512).unwrap()),
        ));
        let UploadStep::Send(again) = step else {
            panic!("{step:?}")
        };
        assert_eq!(block_of(&again).num, 0);
        assert_eq!(block_of(&again).size(), 512);
        assert_eq!(again.payload.len(), 512);
        let refusal = answer(ResponseType::RequestEntityTooLarge, None);
        assert_eq!(upload.on_response(&refusal), UploadStep::Done(refusal));
    }

    #[test]
    fn protocol_breaks_are_named() {
        let (_, upload) = BlockUpload::start(request(3000), 1024).unwrap();
        let mut upload = upload.unwrap();
        let step = upload.on_response(&answer(ResponseType::Continue, None));
        assert!(matches!(step, UploadStep::Failed(reason) if reason.contains("Block1")));
        let step = upload.on_response(&answer(
            ResponseType::Continue,
            Some(BlockOption::new(2, true, 1024).unwrap()),
        ));
        assert!(
            matches!(&step, UploadStep::Failed(reason) if reason.contains("block 2") && reason.contains("block 0")),
            "{step:?}"
        );
        let error = answer(ResponseType::RequestEntityIncomplete, None);
        assert_eq!(upload.on_response(&error), UploadStep::Done(error));
    }
}
