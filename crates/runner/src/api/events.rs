//! The gateway's event stream (`GET /gateway_commands/events`, server-sent events of status
//! changes): a bounded SSE parser and the decoding of its events.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::state::{DeviceStatus, Status, parse_time};

/// Longest SSE line (and event) accepted; a longer one breaks the stream.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Events buffered between the stream reader and the runner.
pub const EVENT_CHANNEL_CAPACITY: usize = 16 * 1024;

/// A status change of one command on one target device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent {
    /// The command `_id`.
    pub command_id: String,
    /// The target device `_id` (the key in `statuses`).
    pub device_id: String,
    /// The new status.
    pub status: Status,
    /// Its message.
    pub status_message: Option<String>,
    /// When it changed (gateway clock).
    pub at: Option<OffsetDateTime>,
    /// The target's whole record (`statuses[device_id]` of the command), carried by
    /// terminal events of gateways that send it: no detail request is then needed.
    pub record: Option<Box<DeviceStatus>>,
}

/// One item of the event stream, stamped with the runner's clock when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventItem {
    /// A status change, and when the runner read it.
    Status(StatusEvent, Instant),
    /// The gateway dropped this many events for this subscriber (it fell behind).
    Lagged(u64),
    /// The stream failed or ended; no more events will come.
    Broken(String),
}

/// Receiving end of an event stream.
pub type EventReceiver = tokio::sync::mpsc::Receiver<EventItem>;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// `event:` (empty when none was given: the type is then `message`).
    pub name: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// Why the SSE stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or event exceeded [`MAX_EVENT_BYTES`].
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

/// An incremental parser of `text/event-stream` (WHATWG HTML §9.2), bounded in memory.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; completed events are appended to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue; // CRLF: the line already ended at CR
                }
            }
            match b {
                b'\n' => self.end_line(out)?,
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(out)?;
                }
                _ => {
                    if self.line.len() >= MAX_EVENT_BYTES {
                        return Err(SseError::TooLarge);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data {
                out.push(std::mem::take(&mut self.current));
            } else {
                self.current = SseEvent::default();
            }
            self.has_data = false;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // comment (keep-alive)
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => self.current.name = value.to_owned(),
            "data" => {
                if self.current.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge);
                }
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }
}

/// What an SSE event means to the runner (`None`: not about command statuses).
pub fn decode(event: &SseEvent, received: Instant) -> Option<EventItem> {
    match event.name.as_str() {
        "status" => {
            let v: serde_json::Value = serde_json::from_str(&event.data).ok()?;
            let text = |k: &str| v.get(k).and_then(|x| x.as_str());
            let device_id = text("device_id")?;
            let record = v
                .get("record")
                .filter(|r| r.is_object())
                .and_then(|r| DeviceStatus::from_json(device_id, r).ok())
                .map(Box::new);
            Some(EventItem::Status(
                StatusEvent {
                    command_id: text("command_id")?.to_owned(),
                    device_id: device_id.to_owned(),
                    status: Status::parse(text("status")?),
                    status_message: text("status_message").map(str::to_owned),
                    at: text("at").and_then(parse_time),
                    record,
                },
                received,
            ))
        }
        "lagged" => {
            let v: serde_json::Value = serde_json::from_str(&event.data).ok()?;
            Some(EventItem::Lagged(v.get("missed")?.as_u64()?))
        }
        _ => None,
    }
}

/// How long the first response of the event stream may take before the stream is declared
/// unavailable.
pub const EVENTS_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let out = parse_all(&[
            b": keep-alive\n\nevent: sta",
            b"tus\r\ndata: {\"a\":1}\r\n\r",
            b"\nevent: lagged\rdata: x\rdata:y\r\r",
            b"data: no-name\n\n",
        ]);
        assert_eq!(
            out,
            vec![
                SseEvent {
                    name: "status".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "lagged".into(),
                    data: "x\ny".into()
                },
                SseEvent {
                    name: String::new(),
                    data: "no-name".into()
                },
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert!(parse_all(&[b"event: status\n\n: c\n\n"]).is_empty());
    }

    #[test]
    fn oversized_lines_are_refused() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(p.feed(&big, &mut out), Err(SseError::TooLarge));
    }

    #[test]
    fn status_and_lagged_events_decode() {
        let now = Instant::now();
        let ev = SseEvent {
            name: "status".into(),
            data: r#"{"kind":"status","command_id":"c1","device_id":"d1","status":"fail","status_message":"timeout","at":"2026-01-01T00:00:00.000100Z"}"#.into(),
        };
        match decode(&ev, now) {
            Some(EventItem::Status(s, at)) => {
                assert_eq!((s.command_id.as_str(), s.device_id.as_str()), ("c1", "d1"));
                assert_eq!(s.status, Status::Fail);
                assert_eq!(s.status_message.as_deref(), Some("timeout"));
                assert_eq!(s.at.unwrap().microsecond(), 100);
                assert_eq!(at, now);
            }
            other => panic!("{other:?}"),
        }
        let lag = SseEvent {
            name: "lagged".into(),
            data: r#"{"missed":7}"#.into(),
        };
        assert_eq!(decode(&lag, now), Some(EventItem::Lagged(7)));
        let note = SseEvent {
            name: "notification".into(),
            data: "{}".into(),
        };
        assert_eq!(decode(&note, now), None);
        let broken = SseEvent {
            name: "status".into(),
            data: "{not json".into(),
        };
        assert_eq!(decode(&broken, now), None);
    }
}
