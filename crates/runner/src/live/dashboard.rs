//! The live dashboard: one page and its chart script, both compiled into the binary (no
//! CDN), updated by server-sent events (`/events`, one JSON frame a second; a page that
//! connects late first receives the frames kept so far). `/report.html` serves the run's
//! report once it is written.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;

use super::LiveState;

/// The page.
pub const DASHBOARD_HTML: &str = include_str!("assets/dashboard.html");
/// The chart script shared by the dashboard and report.html.
pub const CHART_JS: &str = include_str!("assets/chart.js");

pub(super) fn router(state: Arc<LiveState>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD_HTML) }))
        .route(
            "/chart.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CHART_JS,
                )
            }),
        )
        .route("/events", get(events))
        .route("/report.html", get(report))
        .with_state(state)
}

async fn events(
    State(state): State<Arc<LiveState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (history, rx) = state.subscribe();
    // A lagging page skips frames (the next one carries the totals) rather than queueing.
    let live = BroadcastStream::new(rx).filter_map(|r| async move { r.ok() });
    let frames = stream::iter(history)
        .chain(live)
        .map(|json| Ok(Event::default().event("frame").data(&*json)));
    Sse::new(frames).keep_alive(KeepAlive::default())
}

async fn report(State(state): State<Arc<LiveState>>) -> Response {
    let Some(path) = state.report_path() else {
        return (
            StatusCode::NOT_FOUND,
            "the report is written when the run ends\n",
        )
            .into_response();
    };
    match tokio::fs::read_to_string(&path).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, format!("{}: {e}\n", path.display())).into_response(),
    }
}
