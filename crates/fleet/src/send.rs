//! The LwM2M 1.1 Send operation (TS Core 1.1 §6.4.6, TS Transport §6.5): the device pushes
//! chosen resource values to the server, unasked, as `POST /dp` with SenML (CBOR by default,
//! or JSON), expecting 2.04 Changed.
//!
//! [`SendSchedule`] is sans-IO: it says when the next Send is due (every `send_period`, the
//! first one a period after the device starts) and builds it from the device model; the
//! driver sends it and feeds back the answer. A Send is only made while registered (the
//! server answers 4.04 otherwise, TS Transport Table 6.7-4); a due Send while unregistered
//! is skipped, not queued. A Send never waits for the previous one: each period sends once.

use std::time::Duration;

use coap_lite::{MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::coap::RequestId;
use fleetbench_lwm2m::codec::composite::{self, CompositePath};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::packets;
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use crate::device::Device;

/// The Uri-Path of the Send operation.
pub const SEND_PATH: &str = "dp";

/// Shortest accepted send period (a device pushing faster than this is a load generator, not
/// a device).
pub const MIN_SEND_PERIOD: Duration = Duration::from_millis(100);

/// What a device sends when its spec names no paths: the gateway's temperature and the
/// device's battery level.
pub fn default_send_paths() -> Vec<CompositePath> {
    vec![
        CompositePath::Path(Lwm2mPath::resource(3303, 0, 5700)),
        CompositePath::Path(Lwm2mPath::resource(3, 0, 9)),
    ]
}

/// How a device sends (part of its spec). Off unless `period` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct SendSpec {
    /// Every how long to Send; `None`: never.
    pub period: Option<Duration>,
    /// What to send (objects, instances, resources; prefixes reach sub-devices). Empty: the
    /// [`default_send_paths`].
    pub paths: Vec<CompositePath>,
    /// SenML CBOR (default) or SenML JSON.
    pub format: ContentFormat,
}

impl Default for SendSpec {
    fn default() -> Self {
        Self {
            period: None,
            paths: Vec::new(),
            format: ContentFormat::SenmlCbor,
        }
    }
}

/// Why a send spec was refused; the message names the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendSpecError {
    /// A period below [`MIN_SEND_PERIOD`].
    #[error("send_period is {0:?}: at least {MIN_SEND_PERIOD:?}")]
    PeriodTooShort(Duration),
    /// A format other than SenML JSON/CBOR.
    #[error("send format is {0}: Send uses SenML JSON (110) or SenML CBOR (112)")]
    Format(u16),
}

impl SendSpec {
    /// Checks the spec.
    pub fn validate(&self) -> Result<(), SendSpecError> {
        if let Some(period) = self.period
            && period < MIN_SEND_PERIOD
        {
            return Err(SendSpecError::PeriodTooShort(period));
        }
        match self.format {
            ContentFormat::SenmlCbor | ContentFormat::SenmlJson => Ok(()),
            other => Err(SendSpecError::Format(other.number())),
        }
    }
}

/// What became of Sends so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendCounts {
    /// Sends made.
    pub sent: u64,
    /// Answered 2.04.
    pub acknowledged: u64,
    /// Answered otherwise, or no answer.
    pub failed: u64,
    /// Due while not registered, so not made.
    pub skipped: u64,
}

/// The periodic Send of one device.
#[derive(Debug, Clone)]
pub struct SendSchedule {
    period: Duration,
    paths: Vec<CompositePath>,
    format: ContentFormat,
    next_at: Instant,
    in_flight: Option<RequestId>,
    counts: SendCounts,
}

impl SendSchedule {
    /// The schedule of `spec` for a device started at `now`; `None` when sending is off (or
    /// the spec is invalid).
    pub fn new(spec: &SendSpec, now: Instant) -> Option<Self> {
        spec.validate().ok()?;
        let period = spec.period?;
        let paths = if spec.paths.is_empty() {
            default_send_paths()
        } else {
            spec.paths.clone()
        };
        Some(Self {
            period,
            paths,
            format: spec.format,
            next_at: now + period,
            in_flight: None,
            counts: SendCounts::default(),
        })
    }

    /// When the next Send is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_at
    }

    /// The Send to make now, if one is due and the device is registered.
    pub fn poll_request(
        &mut self,
        now: Instant,
        device: &mut Device,
        registered: bool,
    ) -> Option<Packet> {
        if now < self.next_at {
            return None;
        }
        // The next period counts from the due time, not from a late wake-up.
        while self.next_at <= now {
            self.next_at += self.period;
        }
        if !registered {
            self.counts.skipped += 1;
            return None;
        }
        let packet = send_request(device, now, &self.paths, self.format)?;
        self.counts.sent += 1;
        Some(packet)
    }

    /// The message layer's id of the Send just made.
    pub fn sent(&mut self, request: RequestId) {
        self.in_flight = Some(request);
    }

    /// Whether `request` is the Send in flight.
    pub fn owns(&self, request: RequestId) -> bool {
        self.in_flight == Some(request)
    }

    /// The answer to the Send in flight (`None`: no answer, or the exchange failed).
    pub fn on_response(&mut self, response: Option<&Packet>) {
        self.in_flight = None;
        match response.map(|packet| packet.header.code) {
            Some(MessageClass::Response(ResponseType::Changed)) => self.counts.acknowledged += 1,
            _ => self.counts.failed += 1,
        }
    }

    /// What became of Sends so far.
    pub fn counts(&self) -> SendCounts {
        self.counts
    }
}

/// A `POST /dp` carrying the current values under `paths` in `format` (`None` when none of
/// the paths has a value to send).
pub fn send_request(
    device: &mut Device,
    now: Instant,
    paths: &[CompositePath],
    format: ContentFormat,
) -> Option<Packet> {
    let records = device.read_composite_values(now, paths);
    if records.is_empty() {
        return None;
    }
    let payload = composite::encode_records(format, &records).ok()?;
    let mut packet = packets::new_request(RequestType::Post, &[SEND_PATH]);
    packets::set_content_format(&mut packet, format.number());
    packet.payload = payload;
    Some(packet)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::device::DeviceSpec;
    use fleetbench_lwm2m::codec::no_types;

    fn device(now: Instant) -> Device {
        Device::new(
            &DeviceSpec {
                sub_devices: 1,
                ..DeviceSpec::default()
            },
            now,
        )
    }

    #[test]
    fn off_by_default_and_invalid_specs_are_named() {
        assert!(SendSchedule::new(&SendSpec::default(), Instant::now()).is_none());
        let fast = SendSpec {
            period: Some(Duration::from_millis(10)),
            ..SendSpec::default()
        };
        assert!(
            fast.validate()
                .unwrap_err()
                .to_string()
                .contains("send_period")
        );
        let tlv = SendSpec {
            period: Some(Duration::from_secs(1)),
            format: ContentFormat::Tlv,
            ..SendSpec::default()
        };
        assert!(tlv.validate().unwrap_err().to_string().contains("11542"));
    }

    #[test]
    fn sends_every_period_only_while_registered() {
        let start = Instant::now();
        let mut device = device(start);
        let spec = SendSpec {
            period: Some(Duration::from_secs(10)),
            paths: vec![
                CompositePath::Path("/3303/0/5700".parse().unwrap()),
                CompositePath::Path("/dev0/3304/0/5700".parse().unwrap()),
            ],
            ..SendSpec::default()
        };
        let mut schedule = SendSchedule::new(&spec, start).unwrap();
        assert_eq!(schedule.poll_timeout(), start + Duration::from_secs(10));
        assert!(schedule.poll_request(start, &mut device, true).is_none());
        let due = start + Duration::from_secs(10);
        assert!(schedule.poll_request(due, &mut device, false).is_none());
        assert_eq!(schedule.counts().skipped, 1);
        // Woken late: the next Send stays on the period grid.
        let late = start + Duration::from_secs(25);
        let packet = schedule.poll_request(late, &mut device, true).unwrap();
        assert_eq!(schedule.poll_timeout(), start + Duration::from_secs(30));
        assert_eq!(packet.header.code, MessageClass::Request(RequestType::Post));
        assert_eq!(packets::uri_path(&packet), ["dp"]);
        assert_eq!(packets::content_format(&packet), Some(112));
        let records =
            composite::decode_records(ContentFormat::SenmlCbor, &packet.payload, &no_types)
                .unwrap();
        let names: Vec<String> = records.iter().map(|r| r.path.to_string()).collect();
        assert_eq!(names, ["/3303/0/5700", "/dev0/3304/0/5700"]);
        assert_eq!(schedule.counts().sent, 1);
        schedule.on_response(None);
        assert_eq!(schedule.counts().failed, 1);
    }

    #[test]
    fn default_paths_send_temperature_and_battery_in_json() {
        let start = Instant::now();
        let mut device = device(start);
        let packet = send_request(
            &mut device,
            start,
            &default_send_paths(),
            ContentFormat::SenmlJson,
        )
        .unwrap();
        let text = String::from_utf8(packet.payload).unwrap();
        assert!(text.starts_with(r#"[{"n":"/3303/0/5700","v":"#), "{text}");
        assert!(text.contains(r#"{"n":"/3/0/9","v":"#), "{text}");
        // Nothing to send: no request.
        let nothing = [CompositePath::Path("/3/9".parse().unwrap())];
        assert!(send_request(&mut device, start, &nothing, ContentFormat::SenmlJson).is_none());
    }
}
