//! Software updates (`POST /software_updates`), delivered through LwM2M Object 5.

use serde::Serialize;

use super::ids::ObjectId;
use super::timestamp::Timestamp;

/// A software update.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareUpdate {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Name.
    pub name: String,
    /// Device type it is meant for, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_type_id: Option<String>,
    /// Script, as given (not run by the mock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Files; the first one with a `file_id` (push) or `link` (pull) is the LwM2M package.
    pub files: Vec<SoftwareFile>,
    /// Reboot after the update, as given.
    pub reboot: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// One file of a software update.
#[derive(Debug, Clone, Serialize)]
pub struct SoftwareFile {
    /// Name.
    pub name: String,
    /// URL the device pulls the package from (written to `/5/0/1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Stored file pushed to the device (written to `/5/0/0`) [extension].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<ObjectId>,
}

/// How the package reaches the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// Push the stored file's bytes.
    Push(ObjectId),
    /// Let the device pull from this URI.
    Pull(String),
}

impl SoftwareUpdate {
    /// The package to deliver, if any.
    pub fn package(&self) -> Option<PackageSource> {
        self.files
            .iter()
            .find_map(|file| match (&file.file_id, &file.link) {
                (Some(id), _) => Some(PackageSource::Push(*id)),
                (None, Some(link)) => Some(PackageSource::Pull(link.clone())),
                (None, None) => None,
            })
    }
}
