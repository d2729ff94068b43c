//! Single and block-wise (RFC 7959) exchanges with one device through the [`CoapClient`].

use std::net::SocketAddr;

use bytes::Bytes;
use fleetbench_lwm2m::block::BlockOption;
use fleetbench_lwm2m::coap::FailureReason;
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapClient, RequestError};
use fleetbench_lwm2m::coap_lite::{CoapOption, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::packets::{
    code_text, content_format, new_request, response_code, set_content_format,
};
use fleetbench_lwm2m::path::Lwm2mPath;

use crate::engine::transmission;
use crate::engine::{LinkError, OperationOutcome};

/// Block size used for Block1 uploads and asked for in Block2 downloads.
pub const BLOCK_SIZE: usize = 1024;

/// Largest body accepted from a device (Block2), in bytes.
pub const MAX_BODY: usize = 16 << 20;

/// One device at one address.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The CoAP client.
    pub client: &'a CoapClient,
    /// The device's address.
    pub addr: SocketAddr,
    /// Its endpoint name (for messages).
    pub endpoint: &'a str,
}

impl Peer<'_> {
    /// Sends `packet` and returns the response if it is 2.xx; maps everything else to a
    /// [`LinkError`].
    pub async fn exchange(&self, packet: Packet) -> Result<Packet, LinkError> {
        let response = self
            .client
            .request_probed(
                self.addr,
                packet,
                RequestOptions::default(),
                transmission::current(),
            )
            .await
            .map_err(|e| self.failure(e))?;
        self.check(response)
    }

    /// Maps a non-2.xx response to [`LinkError::Rejected`].
    pub fn check(&self, response: Packet) -> Result<Packet, LinkError> {
        match response_code(&response) {
            Some(code) if !code.is_error() => Ok(response),
            code => Err(LinkError::Rejected {
                code: code_text(&response),
                reason: code.map_or("Unknown", reason).to_owned(),
                diagnostic: String::from_utf8_lossy(&response.payload)
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }

    /// Maps a message-layer failure.
    pub fn failure(&self, error: RequestError) -> LinkError {
        let endpoint = self.endpoint.to_owned();
        match error {
            RequestError::Failed(FailureReason::Timeout) => LinkError::NoAnswer {
                endpoint,
                detail: "no response after every CoAP retransmission".to_owned(),
            },
            RequestError::Failed(FailureReason::Reset) => LinkError::Reset { endpoint },
            RequestError::Failed(reason) => LinkError::Local(reason.to_string()),
            RequestError::Stopped => LinkError::Local("the LwM2M server stopped".to_owned()),
        }
    }

    /// `GET path`, following Block2 until the whole body is in.
    pub async fn read(&self, path: &Lwm2mPath) -> Result<OperationOutcome, LinkError> {
        let first = self
            .exchange(new_request(RequestType::Get, &path.segments()))
            .await?;
        let format = content_format(&first);
        let code = code_text(&first);
        let Some(mut block) = block2(&first).map_err(|detail| self.bad(detail))? else {
            return Ok(OperationOutcome {
                code,
                content_format: format,
                payload: Bytes::from(first.payload),
            });
        };
        let mut body = first.payload;
        while block.more {
            if body.len() > MAX_BODY {
                return Err(self.bad(format!("body exceeds {MAX_BODY} bytes")));
            }
            let next = BlockOption::with_szx(block.num + 1, false, block.szx)
                .map_err(|e| self.bad(e.to_string()))?;
            let mut request = new_request(RequestType::Get, &path.segments());
            request.add_option(CoapOption::Block2, next.encode());
            let response = self.exchange(request).await?;
            let got = block2(&response)
                .map_err(|detail| self.bad(detail))?
                .ok_or_else(|| self.bad("a Block2 response lost its Block2 option".to_owned()))?;
            if got.offset() != body.len() {
                return Err(self.bad(format!(
                    "Block2 block {} starts at byte {}, expected {}",
                    got.num,
                    got.offset(),
                    body.len()
                )));
            }
            body.extend_from_slice(&response.payload);
            block = got;
        }
        Ok(OperationOutcome {
            code,
            content_format: format,
            payload: Bytes::from(body),
        })
    }

    /// `method path` with `payload`, split into Block1 blocks when larger than one block.
    pub async fn send(
        &self,
        method: RequestType,
        path: &Lwm2mPath,
        format: Option<u16>,
        payload: &[u8],
    ) -> Result<OperationOutcome, LinkError> {
        let build = |chunk: &[u8]| {
            let mut request = new_request(method, &path.segments());
            if let Some(format) = format {
                set_content_format(&mut request, format);
            }
            request.payload = chunk.to_vec();
            request
        };
        if payload.len() <= BLOCK_SIZE {
            return self.exchange(build(payload)).await.map(outcome);
        }
        let mut size = BLOCK_SIZE;
        let mut offset = 0usize;
        loop {
            let end = (offset + size).min(payload.len());
            let more = end < payload.len();
            let num = u32::try_from(offset / size)
                .map_err(|_| LinkError::Local("payload too large for Block1".to_owned()))?;
            let option =
                BlockOption::new(num, more, size).map_err(|e| LinkError::Local(e.to_string()))?;
            let mut request = build(&payload[offset..end]);
            request.add_option(CoapOption::Block1, option.encode());
            let response = self.exchange(request).await?;
            if !more {
                return Ok(outcome(response));
            }
            if response_code(&response) != Some(ResponseType::Continue) {
                return Err(self.bad(format!(
                    "expected 2.31 Continue for Block1 block {num}, got {}",
                    code_text(&response)
                )));
            }
            // The device may ask for smaller blocks (RFC 7959 §2.5): continue at the same offset.
            if let Some(asked) = response
                .get_first_option(CoapOption::Block1)
                .and_then(|v| BlockOption::decode(v).ok())
                && asked.size() < size
            {
                size = asked.size();
            }
            offset = end;
            if !offset.is_multiple_of(size) {
                return Err(self.bad(format!(
                    "cannot continue Block1 at byte {offset} with {size}-byte blocks"
                )));
            }
        }
    }

    fn bad(&self, detail: String) -> LinkError {
        LinkError::BadAnswer {
            endpoint: self.endpoint.to_owned(),
            detail,
        }
    }
}

fn outcome(response: Packet) -> OperationOutcome {
    OperationOutcome {
        code: code_text(&response),
        content_format: content_format(&response),
        payload: Bytes::from(response.payload),
    }
}

fn block2(packet: &Packet) -> Result<Option<BlockOption>, String> {
    match packet.get_first_option(CoapOption::Block2) {
        None => Ok(None),
        Some(value) => BlockOption::decode(value)
            .map(Some)
            .map_err(|e| format!("bad Block2 option: {e}")),
    }
}

/// The name of a response code, e.g. `Not Found`.
pub fn reason(code: ResponseType) -> &'static str {
    use ResponseType::*;
    match code {
        Created => "Created",
        Deleted => "Deleted",
        Valid => "Valid",
        Changed => "Changed",
        Content => "Content",
        Continue => "Continue",
        BadRequest => "Bad Request",
        Unauthorized => "Unauthorized",
        BadOption => "Bad Option",
        Forbidden => "Forbidden",
        NotFound => "Not Found",
        MethodNotAllowed => "Method Not Allowed",
        NotAcceptable => "Not Acceptable",
        Conflict => "Conflict",
        PreconditionFailed => "Precondition Failed",
        RequestEntityTooLarge => "Request Entity Too Large",
        UnsupportedContentFormat => "Unsupported Content-Format",
        RequestEntityIncomplete => "Request Entity Incomplete",
        UnprocessableEntity => "Unprocessable Entity",
        TooManyRequests => "Too Many Requests",
        InternalServerError => "Internal Server Error",
        NotImplemented => "Not Implemented",
        BadGateway => "Bad Gateway",
        ServiceUnavailable => "Service Unavailable",
        GatewayTimeout => "Gateway Timeout",
        ProxyingNotSupported => "Proxying Not Supported",
        HopLimitReached => "Hop Limit Reached",
        UnKnown => "Unknown",
    }
}
