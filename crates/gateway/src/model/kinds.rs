//! The enumerations of the command API: command types, LwM2M sub-command types, log levels.

use serde::{Serialize, Serializer};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the wire text; the error names the value and the accepted ones.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown value {:?}; expected one of {}",
                        text,
                        Self::ALL.iter().map(|value| value.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }

            /// Index in [`Self::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// A gateway command type (`command_type`).
    CommandType {
        /// Issue a config request.
        SendConfig => "send_config",
        /// Enable or disable data restriction (`enable`).
        DataRestriction => "data_restriction",
        /// Back up the device configuration.
        Backup => "backup",
        /// Restore a backup (`url`).
        RestoreBackup => "restore_backup",
        /// Set the log level (`level`).
        LogLevel => "log_level",
        /// Upload logs.
        LogUpload => "log_upload",
        /// Reboot.
        Reboot => "reboot",
        /// Request a heartbeat.
        Heartbeat => "heartbeat",
        /// Run a software update (`software_update_id`).
        SoftwareUpdate => "software_update",
        /// Request device status.
        Status => "status",
        /// An LwM2M request (`type`, `endpoint`, `data`).
        Lwm2mRequest => "lwm2m_request",
        /// An LwM2M file transfer (`type`, `file_id`, `filepath`).
        Lwm2mFile => "lwm2m_file",
    }
}

text_enum! {
    /// The LwM2M sub-command (`type`) of `lwm2m_request` and `lwm2m_file`.
    Lwm2mType {
        /// Read a path.
        Read => "read",
        /// Write `data` to a resource.
        Write => "write",
        /// Execute a resource.
        Exec => "exec",
        /// Observe a path.
        Observe => "observe",
        /// Cancel an observation.
        ObserveStop => "observe_stop",
        /// Push a stored file to the device.
        FileUpload => "fileupload",
        /// Fetch a file from the device.
        FileDownload => "filedownload",
    }
}

text_enum! {
    /// A `log_level` level.
    LogLevel {
        /// trace
        Trace => "trace",
        /// debug
        Debug => "debug",
        /// info
        Info => "info",
        /// warn
        Warn => "warn",
        /// error
        Error => "error",
        /// critical
        Critical => "critical",
    }
}

impl Lwm2mType {
    /// Whether this type belongs to `lwm2m_file` (else to `lwm2m_request`).
    pub fn is_file(self) -> bool {
        matches!(self, Self::FileUpload | Self::FileDownload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_lists_choices_on_error() {
        for kind in CommandType::ALL {
            assert_eq!(CommandType::parse(kind.as_str()), Ok(*kind));
        }
        let error = CommandType::parse("foo").unwrap_err();
        assert!(
            error.starts_with("unknown value \"foo\"; expected one of send_config,"),
            "{error}"
        );
        assert_eq!(Lwm2mType::parse("observe_stop"), Ok(Lwm2mType::ObserveStop));
        assert_eq!(LogLevel::parse("critical"), Ok(LogLevel::Critical));
    }
}
