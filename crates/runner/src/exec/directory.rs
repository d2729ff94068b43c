//! Maps the fleet's endpoint names to the gateway's device `_id`s, by listing `GET /devices`
//! until every expected device is there (bounded).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::abort::AbortSignal;
use crate::api::{ApiError, GatewayApi};
use crate::plan::TargetRef;
use crate::scenario::{Fleet, SubDeviceRoute};

/// Devices per listing page.
pub const PAGE_SIZE: u64 = 1000;
/// Pause between two listings while devices are still missing.
pub const RELIST_PAUSE: Duration = Duration::from_millis(250);

/// The `_id`s of one device and its sub-devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceIds {
    /// The device's `_id`.
    pub id: String,
    /// Its sub-devices' `_id`s, by index.
    pub subs: Vec<String>,
}

/// `_id`s of every fleet device, by class and index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    classes: Vec<Vec<DeviceIds>>,
}

/// Why the directory could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Not every device appeared in time.
    #[error(
        "{missing} of {expected} fleet devices did not appear in GET /devices within {waited:?} (e.g. {examples:?}); last error: {last_error:?}"
    )]
    Timeout {
        /// Still missing.
        missing: usize,
        /// Expected in total.
        expected: usize,
        /// How long we waited.
        waited: Duration,
        /// A few missing names.
        examples: Vec<String>,
        /// The last listing error, if any.
        last_error: Option<String>,
    },
    /// The run was aborted while waiting.
    #[error("aborted while waiting for devices: {0}")]
    Aborted(String),
}

impl Directory {
    /// Builds a directory directly (tests, and callers that know the ids).
    pub fn from_ids(classes: Vec<Vec<DeviceIds>>) -> Directory {
        Directory { classes }
    }

    /// Where to POST a command for `target`, and the `attached_device_ids` entry if any.
    pub fn resolve(
        &self,
        target: TargetRef,
        route: SubDeviceRoute,
    ) -> Option<(&str, Option<&str>)> {
        let device = self
            .classes
            .get(target.class as usize)?
            .get(target.device as usize)?;
        match target.sub {
            None => Some((&device.id, None)),
            Some(k) => {
                let sub = device.subs.get(usize::from(k))?;
                match route {
                    SubDeviceRoute::Direct => Some((sub, None)),
                    SubDeviceRoute::ViaParent => Some((&device.id, Some(sub))),
                }
            }
        }
    }

    /// Lists devices until every fleet device and sub-device is known, or `timeout`.
    pub async fn discover<A: GatewayApi>(
        api: &A,
        fleet: &Fleet,
        timeout: Duration,
        abort: &mut AbortSignal,
    ) -> Result<Directory, DirectoryError> {
        let mut wanted: HashMap<String, (usize, usize, Option<usize>)> = HashMap::new();
        let mut classes = Vec::with_capacity(fleet.classes.len());
        for (c, class) in fleet.classes.iter().enumerate() {
            let mut devices = Vec::with_capacity(class.count);
            for i in 0..class.count {
                let ep = class.endpoint(i);
                for k in 0..class.sub_devices {
                    wanted.insert(fleetbench_fleet::sub_device_name(&ep, k), (c, i, Some(k)));
                }
                wanted.insert(ep, (c, i, None));
                devices.push(DeviceIds {
                    id: String::new(),
                    subs: vec![String::new(); class.sub_devices],
                });
            }
            classes.push(devices);
        }
        let expected = wanted.len();
        let started = Instant::now();
        let deadline = started + timeout;
        loop {
            let last_error = list_all(api, &mut wanted, &mut classes)
                .await
                .err()
                .map(|e| e.to_string());
            if wanted.is_empty() {
                return Ok(Directory { classes });
            }
            let next = Instant::now() + RELIST_PAUSE;
            if next >= deadline {
                let mut examples: Vec<String> = wanted.keys().take(5).cloned().collect();
                examples.sort();
                return Err(DirectoryError::Timeout {
                    missing: wanted.len(),
                    expected,
                    waited: started.elapsed(),
                    examples,
                    last_error,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                reason = abort.aborted() => return Err(DirectoryError::Aborted(reason)),
            }
        }
    }
}

async fn list_all<A: GatewayApi>(
    api: &A,
    wanted: &mut HashMap<String, (usize, usize, Option<usize>)>,
    classes: &mut [Vec<DeviceIds>],
) -> Result<(), ApiError> {
    let mut page = 1u64;
    loop {
        let result = api.list_devices(page, PAGE_SIZE).await?;
        let n = result.resources.len() as u64;
        for d in result.resources {
            if let Some((c, i, sub)) = wanted.remove(&d.unique_id) {
                let slot = &mut classes[c][i];
                match sub {
                    None => slot.id = d.id,
                    Some(k) => slot.subs[k] = d.id,
                }
            }
        }
        // Bounded: stop at the reported total, on a short page, or after enough pages for
        // every device the gateway says it has.
        if n < PAGE_SIZE || page * PAGE_SIZE >= result.total || wanted.is_empty() {
            return Ok(());
        }
        page += 1;
    }
}
