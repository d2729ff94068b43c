//! A bounded pool of keep-alive HTTP/1.1 connections (hyper's client connection API), so
//! that the runner controls exactly one connection per request, when a request is handed
//! to a connection (its `sent_at`), and how many connections exist at most.
//!
//! A pool never holds more than its size of open connections: a request first takes a
//! permit (waiting at most until a given instant), then an idle connection, or opens a new
//! one in the place of one that closed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::ApiError;

/// Counters shared by every pool of one client.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// The most connections open at once.
    pub peak: AtomicUsize,
    /// Connections opened in total (a number above the pool size means reconnections).
    pub opened: AtomicU64,
    /// Requests that found no connection in time (counted `dropped` by the engine).
    pub no_connection: AtomicU64,
}

impl PoolStats {
    fn opened_one(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
}

/// One answered request: status, `Retry-After` (seconds, if any) and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `Retry-After` in whole seconds, if present.
    pub retry_after: Option<u64>,
    /// The whole body.
    pub body: Bytes,
}

/// A bounded set of connections to one `host:port`.
#[derive(Debug)]
pub struct ConnectionPool {
    addr: SocketAddr,
    authority: String,
    size: usize,
    permits: Semaphore,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    stats: Arc<PoolStats>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl ConnectionPool {
    /// A pool of at most `size` connections to `addr` (`authority` goes in `Host`).
    pub fn new(
        addr: SocketAddr,
        authority: String,
        size: usize,
        stats: Arc<PoolStats>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> ConnectionPool {
        let size = size.max(1);
        ConnectionPool {
            addr,
            authority,
            size,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
            stats,
            connect_timeout,
            request_timeout,
        }
    }

    /// The most connections this pool opens.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Opens every connection now (before the load starts), so that the first requests do
    /// not pay for connection set-up and a target that cannot take them is known at once.
    pub async fn fill(&self) -> Result<(), ApiError> {
        let mut opened = Vec::with_capacity(self.size);
        for _ in 0..self.size {
            opened.push(self.connect().await?);
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(opened);
        Ok(())
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ApiError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                ApiError::Transport(format!(
                    "connect: no connection within {:?}",
                    self.connect_timeout
                ))
            })?
            .map_err(|e| ApiError::Transport(format!("connect: {}", innermost(&e))))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ApiError::Transport(format!("handshake: {}", innermost(&e))))?;
        self.stats.opened_one();
        let stats = Arc::clone(&self.stats);
        tokio::spawn(async move {
            let _ = connection.await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(sender)
    }

    /// Sends one request on a connection obtained by `connection_by` (else
    /// [`ApiError::NoConnection`], with nothing sent). Returns when it was handed to the
    /// connection, and the answer.
    pub async fn request(
        &self,
        request: http::request::Builder,
        body: Bytes,
        connection_by: Option<Instant>,
    ) -> (Option<Instant>, Result<Answer, ApiError>) {
        let permit = match connection_by {
            Some(by) => match tokio::time::timeout_at(by, self.permits.acquire()).await {
                Ok(Ok(p)) => p,
                _ => {
                    self.stats.no_connection.fetch_add(1, Ordering::Relaxed);
                    return (None, Err(ApiError::NoConnection));
                }
            },
            None => match self.permits.acquire().await {
                Ok(p) => p,
                Err(_) => return (None, Err(ApiError::NoConnection)),
            },
        };
        let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut sender = match reused {
            Some(s) if !s.is_closed() => s,
            _ => match self.connect().await {
                Ok(s) => s,
                Err(e) => return (None, Err(e)),
            },
        };
        if sender.ready().await.is_err() {
            sender = match self.connect().await {
                Ok(s) => s,
                Err(e) => return (None, Err(e)),
            };
        }
        let request = match request
            .header(http::header::HOST, &self.authority)
            .body(Full::new(body))
        {
            Ok(r) => r,
            Err(e) => return (None, Err(ApiError::Transport(format!("request: {e}")))),
        };
        let sent_at = Instant::now();
        let answer = tokio::time::timeout(self.request_timeout, async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ApiError::Transport(hyper_error(&e)))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ApiError::Transport(hyper_error(&e)))?
                .to_bytes();
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        })
        .await
        .unwrap_or_else(|_| Err(ApiError::Transport("request timed out".to_owned())));
        if answer.is_ok() && !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
        drop(permit);
        (Some(sent_at), answer)
    }
}

/// A hyper error with its innermost cause (e.g. the OS error), no URL, no ids.
fn hyper_error(e: &hyper::Error) -> String {
    let what = if e.is_incomplete_message() {
        "connection closed before the answer"
    } else if e.is_canceled() {
        "request canceled"
    } else if e.is_closed() {
        "connection closed"
    } else if e.is_parse() {
        "unparsable answer"
    } else {
        "request"
    };
    match std::error::Error::source(e) {
        Some(_) => format!("{what}: {}", innermost(e)),
        None => what.to_owned(),
    }
}

/// The innermost error of a chain: the one that says what really happened (typically
/// `Connection refused (os error 111)`), without the URL or ids outer layers add.
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn innermost_keeps_the_os_error() {
        let io = std::io::Error::from_raw_os_error(111);
        let outer = ApiError::Transport("x".into());
        assert!(
            innermost(&io).contains("os error 111"),
            "{}",
            innermost(&io)
        );
        assert_eq!(innermost(&outer), "transport error: x");
    }

    #[tokio::test]
    async fn a_dead_target_is_a_connect_error_and_no_connection_is_counted_apart() {
        // A port nobody listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let stats = Arc::new(PoolStats::default());
        let pool = ConnectionPool::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            format!("127.0.0.1:{port}"),
            1,
            Arc::clone(&stats),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let err = pool.fill().await.err();
        match err {
            Some(ApiError::Transport(t)) => {
                assert!(t.starts_with("connect: "), "{t}");
                assert!(!t.contains("127.0.0.1"), "no address in the kind: {t}");
            }
            other => panic!("{other:?}"),
        }
        // Hold the only permit: a request with a deadline in the past finds no connection.
        let _held = pool.permits.acquire().await;
        let (sent, answer) = pool
            .request(http::Request::get("/"), Bytes::new(), Some(Instant::now()))
            .await;
        assert!(sent.is_none());
        assert!(matches!(answer, Err(ApiError::NoConnection)));
        assert_eq!(stats.no_connection.load(Ordering::Relaxed), 1);
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    }
}
