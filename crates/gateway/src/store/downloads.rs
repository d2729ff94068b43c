//! Download tokens: the only way to read a stored file over CoAP. A software update pulled
//! from `coap://<gateway>/files/<file _id>` is delivered as `coap://<gateway>/files/<token>`,
//! a fresh 128-bit token valid while that command target runs (and at most
//! [`TOKEN_LIFETIME`]), as FOTA servers issue. File ids themselves open nothing over CoAP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::lock;
use crate::model::ObjectId;
use crate::model::token::TokenSource;

/// Longest life of a download token (it is revoked earlier when its command target ends).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Most tokens open at once; minting beyond fails the command target.
pub const MAX_TOKENS: usize = 100_000;

/// Why no token could be minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many package downloads open ({MAX_TOKENS}): retry when some finish")]
pub struct TooManyDownloads;

/// Open download tokens.
#[derive(Debug, Default)]
pub struct DownloadTokens {
    open: Mutex<HashMap<String, (ObjectId, Instant)>>,
    source: TokenSource,
}

/// A minted token; revoked when dropped.
#[derive(Debug)]
pub struct DownloadGrant {
    tokens: Arc<DownloadTokens>,
    token: String,
}

impl DownloadGrant {
    /// The token (the last segment of the download URI).
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for DownloadGrant {
    fn drop(&mut self) {
        lock(&self.tokens.open).remove(&self.token);
    }
}

impl DownloadTokens {
    /// No open tokens; new ones come from `source`.
    pub fn with_source(source: TokenSource) -> Self {
        Self {
            open: Mutex::default(),
            source,
        }
    }

    /// A token opening `file` until the grant is dropped or [`TOKEN_LIFETIME`] passes.
    pub fn mint(
        self: &Arc<Self>,
        file: ObjectId,
        now: Instant,
    ) -> Result<DownloadGrant, TooManyDownloads> {
        let mut open = lock(&self.open);
        if open.len() >= MAX_TOKENS {
            open.retain(|_, (_, expires)| *expires > now);
            if open.len() >= MAX_TOKENS {
                return Err(TooManyDownloads);
            }
        }
        let mut token = self.source.next_token();
        while open.contains_key(&token) {
            token = self.source.next_token();
        }
        open.insert(token.clone(), (file, now + TOKEN_LIFETIME));
        Ok(DownloadGrant {
            tokens: self.clone(),
            token,
        })
    }

    /// The file `token` opens at `now`, if any.
    pub fn file(&self, token: &str, now: Instant) -> Option<ObjectId> {
        lock(&self.open)
            .get(token)
            .filter(|(_, expires)| *expires > now)
            .map(|(file, _)| *file)
    }

    /// Tokens open now.
    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// If `link` names a stored file of this gateway (`coap://HOST[:PORT]/files/<_id>`), that
/// id and the link's `coap://HOST[:PORT]/files/` prefix.
pub fn own_file_link(link: &str) -> Option<(ObjectId, &str)> {
    let rest = link
        .strip_prefix("coap://")
        .or_else(|| link.strip_prefix("coaps://"))?;
    let slash = rest.find('/')?;
    let path = &rest[slash..];
    let id = path.strip_prefix("/files/")?;
    let prefix = &link[..link.len() - id.len()];
    Some((ObjectId::parse(id)?, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IdGenerator;

    #[tokio::test(start_paused = true)]
    async fn tokens_open_their_file_until_dropped_or_expired() {
        let tokens = Arc::new(DownloadTokens::default());
        let file = IdGenerator::new(1, 1).next_id();
        let now = Instant::now();
        let grant = tokens.mint(file, now).unwrap();
        assert_eq!(tokens.file(grant.token(), now), Some(file));
        assert_eq!(tokens.file(&file.to_string(), now), None);
        assert_eq!(tokens.file(grant.token(), now + TOKEN_LIFETIME), None);
        let token = grant.token().to_owned();
        drop(grant);
        assert_eq!(tokens.file(&token, now), None);
        assert!(tokens.is_empty());
    }

    #[test]
    fn own_file_links_are_recognised() {
        let id = IdGenerator::new(1, 1).next_id();
        let link = format!("coap://127.0.0.1:5683/files/{id}");
        assert_eq!(
            own_file_link(&link),
            Some((id, "coap://127.0.0.1:5683/files/"))
        );
        assert_eq!(own_file_link("http://example.com/files/x"), None);
        assert_eq!(own_file_link("coap://h/fw.bin"), None);
        assert_eq!(own_file_link(&format!("coap://h/other/{id}")), None);
    }
}
