//! Sub-device discovery: read Object 25 ("LwM2M Gateway") from a registered gateway and turn
//! each instance into an attached device (unique_id = Device ID, with its Prefix).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetbench_lwm2m::coap::service::CoapClient;
use fleetbench_lwm2m::codec;
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::link_format::Link;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};

use super::fair_slots::FairSlots;
use super::registry::{Registration, ended};
use super::transfer::Peer;
use crate::state::GatewayState;
use crate::store::devices::SubDeviceInfo;

/// The LwM2M Gateway object.
pub const GATEWAY_OBJECT: u16 = 25;

/// How long one discovery may take by default ([`crate::GatewayConfig::discovery_timeout`]).
/// Far below CoAP's 93 s give-up on a silent device, so a socket that registers gateways and
/// never answers holds each discovery slot for this long only.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Declared types of Object 25 resources (v2.0 plus RSSI of v3.0).
pub fn object25_types(path: &Lwm2mPath) -> Option<ResourceType> {
    match (path.object, path.resource) {
        (GATEWAY_OBJECT, Some(0 | 1)) => Some(ResourceType::String),
        (GATEWAY_OBJECT, Some(3)) => Some(ResourceType::CoreLink),
        (GATEWAY_OBJECT, Some(4)) => Some(ResourceType::Integer),
        _ => None,
    }
}

/// Whether the registered object links include Object 25.
pub fn lists_gateway_object(links: &[Link]) -> bool {
    links.iter().any(|link| {
        link.target
            .parse::<Lwm2mPath>()
            .is_ok_and(|path| path.prefix.is_none() && path.object == GATEWAY_OBJECT)
    })
}

/// Runs discoveries with bounded concurrency and a fair queue: at most `limit` read devices
/// at once, each for at most `timeout`; at most one waits per registration (a Register or
/// Update while one waits is served by it). Free slots go round robin over the source
/// addresses (IP and port) with waiting discoveries, so one socket that registers many
/// silent gateways delays another source's discovery by about one `timeout`, not by its
/// whole backlog. Their number shows in `/metrics` as
/// `fleetbench_gateway_discoveries_running` and `fleetbench_gateway_discoveries_waiting`.
#[derive(Debug)]
pub struct Discoveries {
    slots: Arc<FairSlots>,
    timeout: Duration,
}

impl Discoveries {
    /// At most `limit` (at least 1) discoveries at once, each cut after `timeout`.
    pub fn new(limit: usize, timeout: Duration) -> Self {
        Self {
            slots: Arc::new(FairSlots::new(limit)),
            timeout,
        }
    }

    /// Queues a discovery of `registration` unless one already waits for it.
    pub fn spawn(
        self: &Arc<Self>,
        state: Arc<GatewayState>,
        client: CoapClient,
        registration: Arc<Registration>,
    ) {
        if registration.discovery_waiting.swap(true, Ordering::AcqRel) {
            return;
        }
        let metrics = Arc::clone(&state);
        metrics
            .metrics
            .discoveries_waiting
            .fetch_add(1, Ordering::Relaxed);
        let slots = Arc::clone(&self.slots);
        let timeout = self.timeout;
        tokio::spawn(async move {
            let (waiting, running) = (
                &metrics.metrics.discoveries_waiting,
                &metrics.metrics.discoveries_running,
            );
            let mut alive = registration.watch();
            let slot = tokio::select! {
                slot = slots.acquire(registration.peer()) => slot,
                _ = ended(&mut alive) => None,
            };
            registration
                .discovery_waiting
                .store(false, Ordering::Release);
            waiting.fetch_sub(1, Ordering::Relaxed);
            let Some(_slot) = slot else {
                return;
            };
            running.fetch_add(1, Ordering::Relaxed);
            let has_gateway_object = registration.lists_gateway_object.load(Ordering::Relaxed);
            discover(state, client, registration, has_gateway_object, timeout).await;
            running.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Reads `/25` from the gateway behind `registration` and replaces its attached devices.
pub async fn discover(
    state: Arc<GatewayState>,
    client: CoapClient,
    registration: Arc<Registration>,
    has_gateway_object: bool,
    timeout: Duration,
) {
    let subs = if has_gateway_object {
        let mut alive = registration.watch();
        let read = read_instances(&client, &registration);
        let result = tokio::select! {
            result = tokio::time::timeout(timeout, read) => result.unwrap_or_else(|_| Err("timed out".to_owned())),
            how = ended(&mut alive) => Err(format!("registration ended ({how:?})")),
        };
        match result {
            Ok(subs) => subs,
            Err(error) => {
                tracing::warn!(endpoint = %registration.endpoint, %error, "cannot read /25 for sub-devices");
                return;
            }
        }
    } else {
        Vec::new()
    };
    if let Err(error) =
        state
            .devices
            .set_sub_devices(&state.ids, &registration.device_id, &subs, state.now())
    {
        tracing::warn!(endpoint = %registration.endpoint, %error, "cannot store sub-devices");
    }
}

async fn read_instances(
    client: &CoapClient,
    registration: &Registration,
) -> Result<Vec<SubDeviceInfo>, String> {
    let peer = Peer {
        client,
        addr: registration.peer(),
        endpoint: &registration.endpoint,
    };
    let base = Lwm2mPath::object(GATEWAY_OBJECT);
    let outcome = peer.read(&base).await.map_err(|e| e.to_string())?;
    let number = outcome
        .content_format
        .unwrap_or(ContentFormat::Tlv.number());
    let format = ContentFormat::from_number(number)
        .ok_or_else(|| format!("unknown content format {number}"))?;
    let records = codec::decode(format, &base, &outcome.payload, &object25_types)
        .map_err(|e| e.to_string())?;
    Ok(instances(records))
}

/// Groups Object 25 records by instance; instances without Device ID or a valid Prefix are
/// skipped.
pub fn instances(records: Vec<codec::Record>) -> Vec<SubDeviceInfo> {
    #[derive(Default)]
    struct Fields {
        device_id: Option<String>,
        prefix: Option<String>,
        objects: Option<String>,
    }
    let mut by_instance: BTreeMap<u16, Fields> = BTreeMap::new();
    for record in records {
        let (Some(instance), Some(resource)) = (record.path.instance, record.path.resource) else {
            continue;
        };
        let text = match record.value {
            Value::String(text) | Value::CoreLink(text) => text,
            Value::Opaque(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => continue,
        };
        let fields = by_instance.entry(instance).or_default();
        match resource {
            0 => fields.device_id = Some(text),
            1 => fields.prefix = Some(text),
            3 => fields.objects = Some(text),
            _ => {}
        }
    }
    by_instance
        .into_values()
        .filter_map(|fields| {
            let device_id = fields.device_id.filter(|id| !id.is_empty())?;
            let prefix = fields.prefix?;
            let valid = Lwm2mPath::from_segments(&[prefix.as_str(), "3"])
                .is_ok_and(|path| path.prefix.as_deref() == Some(prefix.as_str()));
            valid.then(|| SubDeviceInfo {
                device_id,
                prefix,
                objects: fields.objects.unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetbench_lwm2m::codec::Record;

    #[test]
    fn instances_group_records_and_skip_incomplete_ones() {
        let record =
            |i, r, v: &str| Record::new(Lwm2mPath::resource(25, i, r), Value::String(v.to_owned()));
        let records = vec![
            record(0, 0, "gw-sub0"),
            record(0, 1, "dev0"),
            Record::new(
                Lwm2mPath::resource(25, 0, 3),
                Value::CoreLink("</3303/0>".into()),
            ),
            record(1, 0, "gw-sub1"),
            record(1, 1, "dev1"),
            record(2, 1, "dev2"),
            record(3, 0, "bad-prefix"),
            record(3, 1, "7up"),
        ];
        let subs = instances(records);
        assert_eq!(subs.len(), 2);
        assert_eq!(
            subs[0],
            SubDeviceInfo {
                device_id: "gw-sub0".into(),
                prefix: "dev0".into(),
                objects: "</3303/0>".into()
            }
        );
        assert_eq!(subs[1].prefix, "dev1");
    }

    #[test]
    fn tlv_payload_of_object_25_decodes_with_declared_types() {
        let base = Lwm2mPath::object(25);
        let records = vec![
            Record::new(
                Lwm2mPath::resource(25, 0, 0),
                Value::String("gw-sub0".into()),
            ),
            Record::new(Lwm2mPath::resource(25, 0, 1), Value::String("dev0".into())),
            Record::new(
                Lwm2mPath::resource(25, 0, 3),
                Value::CoreLink("</3303/0>".into()),
            ),
        ];
        let payload = codec::encode(ContentFormat::Tlv, &base, &records).unwrap();
        let decoded = codec::decode(ContentFormat::Tlv, &base, &payload, &object25_types).unwrap();
        let subs = instances(decoded);
        assert_eq!(
            subs,
            vec![SubDeviceInfo {
                device_id: "gw-sub0".into(),
                prefix: "dev0".into(),
                objects: "</3303/0>".into()
            }]
        );
    }
}
