//! Stored files: uploads for `fileupload` and software updates, results of `filedownload`.

use bytes::Bytes;
use serde::Serialize;

use super::ids::ObjectId;
use super::timestamp::Timestamp;

/// A stored file. The bytes are not serialized (see `GET /files/{id}/data`).
#[derive(Debug, Clone, Serialize)]
pub struct StoredFile {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: usize,
    /// Where it came from: `upload` or `device`.
    pub origin: &'static str,
    /// Creation time.
    pub created_at: Timestamp,
    /// The bytes.
    #[serde(skip)]
    pub data: Bytes,
}
