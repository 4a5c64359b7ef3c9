//! The enumerations stored in the database and the ids that name rows.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! sql_id {
    ($(#[$m:meta])* $name:ident, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                s.trim().parse().map($name).map_err(|_| format!(concat!("not a ", $what, " id: {:?} (expected a number)"), s))
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(v).map($name)
            }
        }
    };
}

sql_id! {
    /// Row id of a meeting.
    MeetingId, "meeting"
}

sql_id! {
    /// Row id of a job.
    JobId, "job"
}

macro_rules! sql_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vm])* $variant),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| format!(
                        concat!("unknown ", stringify!($name), " {:?} (expected one of {})"),
                        s,
                        [$($text),*].join(", ")
                    ))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the stored text (`status == "DONE"`), as scripts and tests do.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromSql for $name {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                v.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

sql_enum! {
    /// What a job does; each worker binary polls for its own types.
    TaskType {
        /// Transcribe one audio chunk (audio-worker).
        Audio = "AUDIO",
        /// Describe one or more screenshots (visual-worker).
        Visual = "VISUAL",
        /// Assemble a meeting's transcript from its chunks (audio-worker).
        Transcript = "TRANSCRIPT",
        /// Summarise a meeting (summary-worker).
        Summary = "SUMMARY",
    }
}

sql_enum! {
    /// Where a job is in its life.
    Status {
        /// Waiting to be claimed (possibly for its run_after or its dependencies).
        Pending = "PENDING",
        /// Claimed by a worker that holds its lease.
        Processing = "PROCESSING",
        /// Done; its result is stored.
        Completed = "COMPLETED",
        /// Given up on; last_error says why.
        Failed = "FAILED",
    }
}

sql_enum! {
    /// Where a meeting is in its life.
    MeetingStatus {
        /// Being recorded or imported: more chunks may come.
        Open = "OPEN",
        /// All audio is queued; the foreman plans its TRANSCRIPT and SUMMARY jobs.
        Closed = "CLOSED",
        /// Its jobs are planned and running.
        Processing = "PROCESSING",
        /// Every job COMPLETED.
        Done = "DONE",
        /// A job failed for good; `error` says which.
        Failed = "FAILED",
        /// Cancelled by the user.
        Cancelled = "CANCELLED",
    }
}

sql_enum! {
    /// An accelerator guarded by device leases.
    Device {
        /// The discrete GPU (6 GB on the reference laptop).
        Gpu = "gpu",
        /// The Intel NPU.
        Npu = "npu",
        /// An Intel GPU used through OpenVINO (a device apart from the discrete card).
        IntelGpu = "igpu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_text() {
        for t in TaskType::ALL {
            assert_eq!(t.as_str().parse::<TaskType>().unwrap(), *t);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
        }
        assert_eq!("GPU".parse::<Device>().unwrap(), Device::Gpu);
        for s in MeetingStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert_eq!("42".parse::<JobId>().unwrap(), JobId(42));
        assert!("x".parse::<MeetingId>().unwrap_err().contains("not a meeting id"));
        assert_eq!(serde_json::to_value(JobId(7)).unwrap(), serde_json::json!(7));
        let err = "VIDEO".parse::<TaskType>().unwrap_err();
        assert!(err.contains("AUDIO, VISUAL, TRANSCRIPT, SUMMARY"), "{err}");
    }
}
