//! When an attempt first reached the wire: the engine runs each attempt inside a scope that
//! holds a [`TransmissionProbe`]; a [`DeviceLink`](super::DeviceLink) that talks to devices
//! hands [`current`] to its transport, which notes the instant the attempt's first datagram
//! was sent (after NSTART queueing and any per-device exclusive section). The engine reports
//! it as `attempts[].transmitted_at`.

use std::future::Future;

pub use fleetbench_lwm2m::coap::service::TransmissionProbe;

tokio::task_local! {
    static ATTEMPT_PROBE: TransmissionProbe;
}

/// Runs `work` with `probe` as the [`current`] probe.
pub async fn tracking<F: Future>(probe: TransmissionProbe, work: F) -> F::Output {
    ATTEMPT_PROBE.scope(probe, work).await
}

/// The probe of the attempt running in this task, if any (none outside an attempt, e.g.
/// during sub-device discovery).
pub fn current() -> Option<TransmissionProbe> {
    ATTEMPT_PROBE.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probe_is_visible_inside_the_scope_only() {
        assert!(current().is_none());
        let probe = TransmissionProbe::new();
        let at = tokio::time::Instant::now();
        tracking(probe.clone(), async {
            current().expect("inside the scope").note(at);
        })
        .await;
        assert_eq!(probe.first(), Some(at));
        assert!(current().is_none());
    }
}
