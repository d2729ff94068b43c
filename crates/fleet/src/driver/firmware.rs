//! Firmware pull downloads: the device fetches a Package URI through its own CoAP endpoint
//! (as a client, Block2), at most one download per data model.

use std::collections::BTreeMap;

use coap_lite::Packet;
use fleetbench_lwm2m::coap::{RequestId, RequestOptions};
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::time::Instant;

use super::{DeviceDriver, PULL_BLOCK_SIZE};
use crate::firmware_pull::{Download, DownloadStep};
use crate::stats::FleetCounters;

/// Downloads in progress, by the request in flight.
#[derive(Debug, Default)]
pub(super) struct Downloads {
    by_request: BTreeMap<RequestId, (Option<usize>, Download)>,
}

impl Downloads {
    fn take_for(&mut self, sub_device: Option<usize>) -> Option<RequestId> {
        let id = self
            .by_request
            .iter()
            .find(|(_, (node, _))| *node == sub_device)
            .map(|(id, _)| *id)?;
        self.by_request.remove(&id);
        Some(id)
    }

    /// Forgets every download (a reboot).
    pub(super) fn clear(&mut self) {
        self.by_request.clear();
    }

    /// How many downloads are in progress.
    pub(super) fn len(&self) -> usize {
        self.by_request.len()
    }
}

impl<T: DatagramTransport> DeviceDriver<T> {
    /// Starts fetching `uri` for the device (`None`) or sub-device `k`, replacing a download
    /// already running for it.
    pub(super) fn start_download(&mut self, now: Instant, sub_device: Option<usize>, uri: &str) {
        self.cancel_download(now, sub_device);
        match Download::start(uri, PULL_BLOCK_SIZE) {
            Ok((download, request)) => self.send_download(now, sub_device, download, request),
            Err(code) => self.download_done(sub_device, Err(code)),
        }
    }

    /// Stops the download of the device (`None`) or sub-device `k`, if one runs.
    pub(super) fn cancel_download(&mut self, now: Instant, sub_device: Option<usize>) {
        if let Some(id) = self.downloads.take_for(sub_device) {
            self.endpoint.cancel(now, id);
        }
    }

    fn send_download(
        &mut self,
        now: Instant,
        sub_device: Option<usize>,
        download: Download,
        request: Packet,
    ) {
        let id =
            self.endpoint
                .send_request(now, download.peer(), request, RequestOptions::default());
        self.downloads.by_request.insert(id, (sub_device, download));
    }

    /// A response (or a failure, `None`) for a request that may belong to a download.
    pub(super) fn on_download_response(
        &mut self,
        now: Instant,
        request: RequestId,
        response: Option<&Packet>,
    ) {
        let Some((sub_device, mut download)) = self.downloads.by_request.remove(&request) else {
            return;
        };
        let step = match response {
            Some(response) => download.on_response(response),
            None => download.on_failure(),
        };
        match step {
            DownloadStep::Request(next) => self.send_download(now, sub_device, download, next),
            DownloadStep::Finished { bytes } => self.download_done(sub_device, Ok(bytes)),
            DownloadStep::Failed(code) => self.download_done(sub_device, Err(code)),
        }
    }

    fn download_done(&mut self, sub_device: Option<usize>, outcome: Result<u64, u8>) {
        let counters = &self.shared.counters;
        FleetCounters::bump(match outcome {
            Ok(_) => &counters.firmware_downloads,
            Err(_) => &counters.firmware_download_failures,
        });
        self.device.firmware_download_finished(sub_device, outcome);
        self.observations.values_changed();
    }
}
