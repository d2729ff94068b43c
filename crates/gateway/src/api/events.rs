//! `GET /gateway_commands/events` [extension]: server-sent events of status changes and
//! observe notifications. Each subscriber has a bounded buffer; one that falls behind gets a
//! `lagged` event saying how many events it missed.

use std::convert::Infallible;
use std::sync::atomic::Ordering;

use axum::extract::{RawQuery, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::error::ApiError;
use super::query::Query;
use crate::model::ObjectId;

/// `GET /gateway_commands/events[?command_id=..][&device_id=..]`.
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
    query.finish(&["command_id", "device_id"])?;
    let receiver = state.engine.state().events.subscribe();
    let shared = state.engine.state().clone();
    let stop = state.engine.shutdown_signal();
    let events = futures_util::stream::unfold((receiver, stop), move |(mut receiver, mut stop)| {
        let shared = shared.clone();
        async move {
            loop {
                let received = tokio::select! {
                    received = receiver.recv() => received,
                    _ = stop.wait_for(|stopped| *stopped) => return None,
                };
                match received {
                    Ok(event) => {
                        if command_id.is_some_and(|id| id != event.command_id)
                            || device_id.is_some_and(|id| id != event.device_id)
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&*event).unwrap_or_default();
                        return Some((
                            Ok::<_, Infallible>(SseEvent::default().event(event.kind).data(data)),
                            (receiver, stop),
                        ));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        shared
                            .metrics
                            .events_lagged
                            .fetch_add(missed, Ordering::Relaxed);
                        let data = format!("{{\"missed\":{missed}}}");
                        return Some((
                            Ok(SseEvent::default().event("lagged").data(data)),
                            (receiver, stop),
                        ));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(sse(events))
}

fn sse(events: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static) -> Response {
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
