//! `GET /gateway_commands/events` [extension]: server-sent events of status changes and
//! observe notifications. Each subscriber has a bounded buffer; one that falls behind gets a
//! `lagged` event saying how many events it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{RawQuery, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::error::ApiError;
use super::query::Query;
use crate::engine::events::Event;
use crate::model::ObjectId;
use crate::state::GatewayState;

/// `GET /gateway_commands/events[?command_id=..][&device_id=..][&terminal_only=true]`.
pub async fn stream(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = Query::parse(raw.as_deref())?;
    let parse = |text: &str| {
        ObjectId::parse(text).ok_or_else(|| format!("{text:?} is not a 24-hex-digit id"))
    };
    let command_id = query.take_with("command_id", parse)?;
    let device_id = query.take_with("device_id", parse)?;
    let terminal_only = query
        .take_with("terminal_only", |text| match text {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("{other:?} is not true or false")),
        })?
        .unwrap_or(false);
    query.finish(&["command_id", "device_id", "terminal_only"])?;
    let receiver = state.engine.state().events.subscribe();
    let shared = state.engine.state().clone();
    let stop = state.engine.shutdown_signal();
    let filter = EventFilter {
        command_id,
        device_id,
        terminal_only,
    };
    let events = deliveries(receiver, filter, shared, stop).map(|delivery| {
        Ok::<_, Infallible>(match delivery {
            Delivery::Event(event) => {
                let data = serde_json::to_string(&*event).unwrap_or_default();
                SseEvent::default().event(event.kind).data(data)
            }
            Delivery::Lagged(missed) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"missed\":{missed}}}")),
        })
    });
    Ok(sse(events))
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    /// Only this command's events.
    pub command_id: Option<ObjectId>,
    /// Only events of this target device.
    pub device_id: Option<ObjectId>,
    /// Only terminal `status` events (`success`, `fail`), each carrying its full record.
    pub terminal_only: bool,
}

impl EventFilter {
    /// Whether `event` passes.
    pub fn accepts(&self, event: &Event) -> bool {
        self.command_id.is_none_or(|id| id == event.command_id)
            && self.device_id.is_none_or(|id| id == event.device_id)
            && (!self.terminal_only || event.is_terminal_status())
    }
}

/// What a subscriber receives next.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// An event that passed the filter.
    Event(Arc<Event>),
    /// The subscriber fell behind its buffer and lost this many events (oldest first).
    Lagged(u64),
}

/// The deliveries of one subscriber: its events in order, a [`Delivery::Lagged`] where it
/// lost some, until the gateway shuts down. Lost events are counted in the metrics.
pub fn deliveries(
    receiver: broadcast::Receiver<Arc<Event>>,
    filter: EventFilter,
    shared: Arc<GatewayState>,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Delivery> + Send + 'static {
    futures_util::stream::unfold((receiver, stop), move |(mut receiver, mut stop)| {
        let shared = shared.clone();
        async move {
            loop {
                let received = tokio::select! {
                    received = receiver.recv() => received,
                    _ = stop.wait_for(|stopped| *stopped) => return None,
                };
                match received {
                    Ok(event) => {
                        if !filter.accepts(&event) {
                            continue;
                        }
                        return Some((Delivery::Event(event), (receiver, stop)));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        shared
                            .metrics
                            .events_lagged
                            .fetch_add(missed, Ordering::Relaxed);
                        return Some((Delivery::Lagged(missed), (receiver, stop)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

fn sse(events: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static) -> Response {
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GatewayConfig;
    use crate::clock::Clock;
    use crate::model::{Status, Timestamp};

    /// A subscriber with a buffer of 2 that reads nothing while 10 events are published is
    /// told it missed 8, then gets the 2 newest, in order.
    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_events_it_missed() {
        let config = GatewayConfig {
            events_buffer: 2,
            ..GatewayConfig::default()
        };
        let state = Arc::new(GatewayState::new(&config, Clock::system()));
        let (_stop, stopped) = watch::channel(false);
        let receiver = state.events.subscribe();
        let command = state.ids.next_id();
        let device = state.ids.next_id();
        let at = Timestamp::new(time::macros::datetime!(2030-01-01 0:00 UTC));
        for n in 0..10 {
            state.events.publish(|| Event {
                kind: "status",
                command_id: command,
                device_id: device,
                status: Some(Status::Sent),
                status_message: Some(format!("event {n}")),
                value: None,
                record: None,
                at,
            });
        }
        let got: Vec<Delivery> =
            deliveries(receiver, EventFilter::default(), state.clone(), stopped)
                .take(3)
                .collect()
                .await;
        assert!(matches!(got[0], Delivery::Lagged(8)), "{got:?}");
        let messages: Vec<Option<String>> = got[1..]
            .iter()
            .map(|delivery| match delivery {
                Delivery::Event(event) => event.status_message.clone(),
                Delivery::Lagged(_) => None,
            })
            .collect();
        assert_eq!(
            messages,
            vec![Some("event 8".to_owned()), Some("event 9".to_owned())]
        );
        assert_eq!(state.metrics.events_lagged.load(Ordering::Relaxed), 8);
    }
}
