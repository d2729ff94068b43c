//! The Object 5 state machine (LwM2M 1.1 Firmware Update): State (`/5/0/3`) and Update
//! Result (`/5/0/5`).
//!
//! ```text
//! Idle ──package or URI written──▶ Downloading ──all bytes──▶ Downloaded ──Update──▶ Updating
//!  ▲   ◀──download failed (result 2..7, 9)──┘                     ▲                  │
//!  │                                                               └─update failed (8)─┤
//!  └─────────────────────────────── success (result 1) ◀─────────────────────────────┘
//! ```
//!
//! A failed update keeps the package (State 2, as a restarted device with a valid package
//! must report); an empty URI, a single NUL byte written to Package, or Cancel go back to
//! Idle. Which packages fail is drawn per package from the behaviour profile.

/// Update Result values (`/5/0/5`).
pub mod result {
    /// Initial value; also while a download or update is in progress.
    pub const INITIAL: u8 = 0;
    /// Firmware updated successfully.
    pub const SUCCESS: u8 = 1;
    /// Not enough flash memory for the new package.
    pub const NOT_ENOUGH_FLASH: u8 = 2;
    /// Out of RAM during download.
    pub const OUT_OF_RAM: u8 = 3;
    /// Connection lost during download.
    pub const CONNECTION_LOST: u8 = 4;
    /// Integrity check failure of the downloaded package.
    pub const INTEGRITY_FAILURE: u8 = 5;
    /// Unsupported package type.
    pub const UNSUPPORTED_PACKAGE: u8 = 6;
    /// Invalid URI.
    pub const INVALID_URI: u8 = 7;
    /// Firmware update failed.
    pub const UPDATE_FAILED: u8 = 8;
    /// Unsupported protocol.
    pub const UNSUPPORTED_PROTOCOL: u8 = 9;
    /// Update cancelled (Cancel executed).
    pub const CANCELLED: u8 = 10;
    /// Update deferred.
    pub const DEFERRED: u8 = 11;
}

/// State values (`/5/0/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FirmwareState {
    /// 0: nothing downloaded.
    Idle = 0,
    /// 1: a package is arriving.
    Downloading = 1,
    /// 2: a package is ready to install.
    Downloaded = 2,
    /// 3: the package is being installed.
    Updating = 3,
}

impl FirmwareState {
    /// From the resource value.
    pub fn from_value(value: i64) -> Option<Self> {
        Some(match value {
            0 => Self::Idle,
            1 => Self::Downloading,
            2 => Self::Downloaded,
            3 => Self::Updating,
            _ => return None,
        })
    }
}

/// When an injected failure shows: at the end of the download, or when installing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureStage {
    /// Downloading → Idle with the result.
    Download,
    /// Updating → Downloaded with the result.
    Update,
}

/// The stage at which Update Result `code` arises; `None` for codes that cannot be
/// injected (0 initial, 1 success, 10 cancelled, unknown codes).
pub fn failure_stage(code: u8) -> Option<FailureStage> {
    use result::*;
    match code {
        NOT_ENOUGH_FLASH | OUT_OF_RAM | CONNECTION_LOST | INTEGRITY_FAILURE
        | UNSUPPORTED_PACKAGE | INVALID_URI | UNSUPPORTED_PROTOCOL => Some(FailureStage::Download),
        UPDATE_FAILED | DEFERRED => Some(FailureStage::Update),
        _ => None,
    }
}

/// What becomes of one package, drawn when its download ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageOutcome {
    /// It downloads and installs.
    Installs,
    /// It fails with this Update Result (see [`failure_stage`] for when).
    Fails(u8),
}

/// Firmware bookkeeping of one data model beyond its resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirmwareProgress {
    /// Packages installed so far (names the next firmware version).
    pub installed: u32,
    /// Packages whose download completed (numbers the packages).
    pub downloaded: u32,
    /// An update-stage failure waiting for the next Update of the current package.
    pub update_failure: Option<u8>,
}
