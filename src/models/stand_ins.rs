//! The hand-written stand-ins the generator uses in place of the spec's enum schemas, its
//! `date-time` strings and its container URIs (spec/codegen.rs): extensible enums that keep
//! unknown values, a [`Timestamp`] that keeps unreadable text, and a [`BlobContainerUri`] that
//! keeps its SAS out of `Debug` and `Display`. The generated code imports these; they import
//! nothing of it.

use std::{borrow::Cow, fmt, str::FromStr};

use chrono::{DateTime, Datelike as _, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an extensible enum: the values the spec lists, plus `UnknownValue` for any other
/// string, which is kept verbatim and written back unchanged.
macro_rules! extensible_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)*
            /// A value this version of the crate does not know, exactly as the service sent it.
            UnknownValue(String),
        }

        impl $name {
            /// The values the API description lists, in its order.
            pub const KNOWN: &'static [&'static str] = &[$($wire),*];

            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::UnknownValue(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire => Self::$variant,)*
                    other => Self::UnknownValue(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match Self::from(value.as_str()) {
                    Self::UnknownValue(_) => Self::UnknownValue(value),
                    known => known,
                }
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                string_enum_schema(Self::KNOWN)
            }
        }
    };
}

extensible_enum! {
    /// The kind of a job (`JobResponse.type`).
    JobType {
        /// `unknown`
        Unknown = "unknown",
        /// `export`: export of the device registry.
        Export = "export",
        /// `import`: import into the device registry.
        Import = "import",
        /// `backup`
        Backup = "backup",
        /// `readDeviceProperties`
        ReadDeviceProperties = "readDeviceProperties",
        /// `writeDeviceProperties`
        WriteDeviceProperties = "writeDeviceProperties",
        /// `updateDeviceConfiguration`
        UpdateDeviceConfiguration = "updateDeviceConfiguration",
        /// `rebootDevice`
        RebootDevice = "rebootDevice",
        /// `factoryResetDevice`
        FactoryResetDevice = "factoryResetDevice",
        /// `firmwareUpdate`
        FirmwareUpdate = "firmwareUpdate",
        /// `scheduleDeviceMethod`: a scheduled direct-method invocation.
        ScheduleDeviceMethod = "scheduleDeviceMethod",
        /// `scheduleUpdateTwin`: a scheduled twin update.
        ScheduleUpdateTwin = "scheduleUpdateTwin",
        /// `restoreFromBackup`
        RestoreFromBackup = "restoreFromBackup",
        /// `failoverDataCopy`
        FailoverDataCopy = "failoverDataCopy",
    }
}

extensible_enum! {
    /// The state of a job (`JobResponse.status`).
    JobStatus {
        /// `unknown`
        Unknown = "unknown",
        /// `enqueued`
        Enqueued = "enqueued",
        /// `running`: too late to cancel.
        Running = "running",
        /// `completed`
        Completed = "completed",
        /// `failed`
        Failed = "failed",
        /// `cancelled`
        Cancelled = "cancelled",
        /// `scheduled`: waiting for its start time.
        Scheduled = "scheduled",
        /// `queued`
        Queued = "queued",
    }
}

impl JobStatus {
    /// Not started yet, so it can still be cancelled: `scheduled`, `queued` or `enqueued`.
    pub fn can_be_cancelled(&self) -> bool {
        matches!(self, Self::Scheduled | Self::Queued | Self::Enqueued)
    }

    /// It ran, or is running, so it is too late to cancel: `running`, `completed` or
    /// `failed`.
    pub fn has_started(&self) -> bool {
        matches!(self, Self::Running | Self::Completed | Self::Failed)
    }

    /// Done for good: `completed`, `failed` or `cancelled`.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

extensible_enum! {
    /// Where a job is on one device (`DeviceJob.status`). Note `canceled` with one `l`, where
    /// a job's own status says `cancelled`.
    DeviceJobStatus {
        /// `pending`: the job has not reached the device yet.
        Pending = "pending",
        /// `scheduled`: the job waits for its start time.
        Scheduled = "scheduled",
        /// `running`
        Running = "running",
        /// `completed`: for a direct method, the device answered (whatever its status).
        Completed = "completed",
        /// `failed`: see the row's `error`.
        Failed = "failed",
        /// `canceled`
        Canceled = "canceled",
    }
}

extensible_enum! {
    /// The type of the job a device-job row belongs to (`DeviceJob.jobType`).
    DeviceJobType {
        /// `unknown`
        Unknown = "unknown",
        /// `scheduleDeviceMethod`
        ScheduleDeviceMethod = "scheduleDeviceMethod",
        /// `scheduleUpdateTwin`
        ScheduleUpdateTwin = "scheduleUpdateTwin",
    }
}

extensible_enum! {
    /// Whether a device may connect (`Twin.status`).
    DeviceStatus {
        /// `enabled`
        Enabled = "enabled",
        /// `disabled`: the device cannot connect.
        Disabled = "disabled",
    }
}

extensible_enum! {
    /// A device's connection state (`Twin.connectionState`).
    DeviceConnectionState {
        /// `Disconnected`
        Disconnected = "Disconnected",
        /// `Connected`
        Connected = "Connected",
    }
}

extensible_enum! {
    /// How a device authenticates (`Twin.authenticationType`).
    DeviceAuthenticationType {
        /// `sas`: shared access signature.
        Sas = "sas",
        /// `selfSigned`: self-signed X.509 certificate.
        SelfSigned = "selfSigned",
        /// `certificateAuthority`: CA-signed X.509 certificate.
        CertificateAuthority = "certificateAuthority",
        /// `none`
        None = "none",
    }
}

extensible_enum! {
    /// How the hub authenticates to the storage account of an import or export job's
    /// containers (`JobProperties.storageAuthenticationType`).
    StorageAuthenticationType {
        /// `keyBased`: a SAS token in each container URI.
        KeyBased = "keyBased",
        /// `identityBased`: the hub's managed identity; no SAS in the URIs.
        IdentityBased = "identityBased",
    }
}

/// A blob container's URI as an import or export job carries it (`inputBlobContainerUri`,
/// `outputBlobContainerUri`). For key-based jobs it holds a SAS token, a secret: `Debug` and
/// `Display` show only its scheme, host and path, and [`expose_secret`](Self::expose_secret)
/// gives the whole URI.
///
/// Read as the service sends it, whatever it holds (an empty string included): the checks on
/// container URIs apply to the jobs this crate sends.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobContainerUri(String);

impl BlobContainerUri {
    /// The whole URI, SAS token included: never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for BlobContainerUri {
    fn from(uri: String) -> Self {
        Self(uri)
    }
}

impl fmt::Display for BlobContainerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::call::redact::redacted_url(&self.0))
    }
}

impl fmt::Debug for BlobContainerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BlobContainerUri({:?})",
            crate::call::redact::redacted_url(&self.0)
        )
    }
}

impl schemars::JsonSchema for BlobContainerUri {
    fn schema_name() -> String {
        "BlobContainerUri".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        }
        .into()
    }
}

fn string_enum_schema(values: &[&str]) -> schemars::schema::Schema {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        enum_values: Some(values.iter().map(|v| serde_json::Value::from(*v)).collect()),
        ..Default::default()
    }
    .into()
}

/// A point in time from the service (`format: date-time`), in UTC, within years 0000–9999,
/// or the text the service sent when it is not one.
///
/// Reads RFC 3339 with 0–9 fraction digits, and also the offset-less form the service uses for
/// "never" (`0001-01-01T00:00:00`), which it means as UTC. Any other string (`"InvalidDateString"`,
/// a date in another format) does not fail the answer it is in: it is kept as sent, with
/// [`as_datetime`](Self::as_datetime) `None` and [`unreadable`](Self::unreadable) giving the text.
/// Writes RFC 3339 with a `Z` offset, or the kept text unchanged.
///
/// RFC 3339 has four-digit years only, so a readable `Timestamp` is within years 0000–9999 and
/// can be written and read back: build one from a `DateTime<Utc>` with `Timestamp::try_from`.
/// Requests this crate sends only ever carry readable ones.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(Reading);

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Reading {
    Instant(DateTime<Utc>),
    Unreadable(Box<str>),
}

impl Timestamp {
    /// The instant as a chrono `DateTime<Utc>`; `None` when the service sent text that is not
    /// a date-time (see [`unreadable`](Self::unreadable)).
    pub fn as_datetime(&self) -> Option<DateTime<Utc>> {
        match &self.0 {
            Reading::Instant(instant) => Some(*instant),
            Reading::Unreadable(_) => None,
        }
    }

    /// The text exactly as the service sent it, when it is not a date-time this crate can read.
    pub fn unreadable(&self) -> Option<&str> {
        match &self.0 {
            Reading::Instant(_) => None,
            Reading::Unreadable(text) => Some(text),
        }
    }
}

impl TryFrom<DateTime<Utc>> for Timestamp {
    type Error = TimestampRangeError;

    fn try_from(value: DateTime<Utc>) -> Result<Self, Self::Error> {
        if (0..=9999).contains(&value.year()) {
            Ok(Self(Reading::Instant(value)))
        } else {
            Err(TimestampRangeError(value))
        }
    }
}

/// A `DateTime<Utc>` outside years 0000–9999, which an RFC 3339 date-time cannot carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is outside years 0000-9999, which an RFC 3339 date-time can carry")]
pub struct TimestampRangeError(DateTime<Utc>);

/// A `date-time` string that is neither RFC 3339 nor the service's offset-less form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 date-time")]
pub struct TimestampParseError(String);

impl FromStr for Timestamp {
    type Err = TimestampParseError;

    /// Strict: only a readable date-time. (Reading an answer keeps any text instead.)
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // RFC 3339 years are four digits, in UTC too; chrono would also take `-001`, `+2026`,
        // or `0000-01-01T00:00:00+01:00` (year -1 in UTC), none of which could be written
        // back as RFC 3339.
        let four_digit_year = text.len() > 4
            && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && text.as_bytes()[4] == b'-';
        let parsed = DateTime::parse_from_rfc3339(text)
            .map(|with_offset| with_offset.with_timezone(&Utc))
            .or_else(|_| {
                // The offset-less form means UTC; reading it as RFC 3339 with `Z` is much
                // cheaper than a format-string parse, and this form is common ("never").
                DateTime::parse_from_rfc3339(&[text, "Z"].concat())
                    .map(|utc| utc.with_timezone(&Utc))
            });
        match parsed {
            Ok(instant) if four_digit_year => {
                Self::try_from(instant).map_err(|_| TimestampParseError(text.to_owned()))
            }
            _ => Err(TimestampParseError(text.to_owned())),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Reading::Instant(instant) => {
                f.write_str(&instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
            Reading::Unreadable(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Reading::Instant(_) => write!(f, "Timestamp({self})"),
            Reading::Unreadable(text) => write!(f, "Timestamp(unreadable {text:?})"),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Ok(text
            .parse()
            .unwrap_or_else(|_| Self(Reading::Unreadable(text.into()))))
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> String {
        "Timestamp".to_owned()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("date-time".to_owned()),
            ..Default::default()
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_rfc_3339_and_the_offsetless_form_and_write_what_they_read() {
        for (given, written) in [
            ("2026-11-26T05:28:52Z", "2026-11-26T05:28:52Z"),
            (
                "2026-11-26T05:28:52.1234567Z",
                "2026-11-26T05:28:52.123456700Z",
            ),
            ("2026-11-26T06:28:52+01:00", "2026-11-26T05:28:52Z"),
            ("0001-01-01T00:00:00", "0001-01-01T00:00:00Z"),
            (
                "9999-12-31T23:59:59.999999999",
                "9999-12-31T23:59:59.999999999Z",
            ),
        ] {
            let parsed: Timestamp = given.parse().unwrap();
            assert_eq!(parsed.to_string(), written);
            assert_eq!(written.parse::<Timestamp>().unwrap(), parsed);
        }
    }

    #[test]
    fn an_unreadable_timestamp_is_kept_as_sent_but_never_parsed_from_text() {
        for text in ["InvalidDateString", "05/21/2020 20:14:49", ""] {
            let read: Timestamp = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!((read.as_datetime(), read.unreadable()), (None, Some(text)));
            assert_eq!(read.to_string(), text);
            assert_eq!(
                format!("{read:?}"),
                format!("Timestamp(unreadable {text:?})")
            );
            assert_eq!(serde_json::to_value(&read).unwrap(), text);
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
        let read: Timestamp = serde_json::from_str(r#""2026-11-26T05:28:52Z""#).unwrap();
        assert_eq!(read.unreadable(), None);
        assert_eq!(format!("{read:?}"), "Timestamp(2026-11-26T05:28:52Z)");
    }

    #[test]
    fn timestamps_outside_years_0000_to_9999_in_utc_are_refused() {
        // Four-digit years that leave the range only once the offset is applied: the range
        // check is the only one that can refuse these.
        for text in ["0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
        for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            assert!(text.parse::<Timestamp>().is_ok(), "{text}");
        }
        let year_10000 = "+10000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(Timestamp::try_from(year_10000).is_err());
        assert!(Timestamp::try_from(DateTime::<Utc>::MIN_UTC).is_err());
    }

    #[test]
    fn a_container_uri_never_shows_its_sas() {
        let uri: BlobContainerUri = serde_json::from_str(
            r#""https://acct.blob.core.windows.net/devices?sv=2024&sig=c2VjcmV0%3D""#,
        )
        .unwrap();
        let shown = format!("{uri} {uri:?}");
        assert!(
            !shown.contains("sig") && !shown.contains("c2VjcmV0"),
            "{shown}"
        );
        assert_eq!(
            uri.to_string(),
            "https://acct.blob.core.windows.net/devices?<redacted>"
        );
        assert_eq!(
            format!("{uri:?}"),
            r#"BlobContainerUri("https://acct.blob.core.windows.net/devices?<redacted>")"#
        );
        assert!(uri.expose_secret().ends_with("sig=c2VjcmV0%3D"));
        assert_eq!(
            serde_json::to_string(&uri).unwrap(),
            r#""https://acct.blob.core.windows.net/devices?sv=2024&sig=c2VjcmV0%3D""#,
            "written back unchanged"
        );
        let empty: BlobContainerUri = serde_json::from_str(r#""""#).unwrap();
        assert_eq!(empty.expose_secret(), "");
    }

    #[test]
    fn status_predicates_sort_every_state() {
        use JobStatus::*;
        let unknown = UnknownValue("cancelling".to_owned());
        // (status, can be cancelled, has started, is finished)
        for (status, cancellable, started, finished) in [
            (Scheduled, true, false, false),
            (Queued, true, false, false),
            (Enqueued, true, false, false),
            (Running, false, true, false),
            (Completed, false, true, true),
            (Failed, false, true, true),
            (Cancelled, false, false, true),
            (Unknown, false, false, false),
            (unknown, false, false, false),
        ] {
            assert_eq!(
                (
                    status.can_be_cancelled(),
                    status.has_started(),
                    status.is_finished()
                ),
                (cancellable, started, finished),
                "{status:?}"
            );
        }
    }

    #[test]
    fn stand_ins_are_named_in_the_schemas_users_generate() {
        let schema =
            serde_json::to_value(schemars::schema_for!(crate::models::JobProperties)).unwrap();
        let definitions = &schema["definitions"];
        assert_eq!(
            definitions["BlobContainerUri"]["type"], "string",
            "{schema}"
        );
        assert_eq!(definitions["Timestamp"]["format"], "date-time", "{schema}");
        assert_eq!(
            schema["properties"]["outputBlobContainerUri"]["anyOf"][0]["$ref"],
            "#/definitions/BlobContainerUri"
        );
    }

    #[test]
    fn timestamps_refuse_years_that_are_not_four_digits() {
        // Found by fuzzing: `-001` was read as year -1 and written as `-0001…Z`, unreadable.
        for text in [
            "-001-01-01T00:00:00",
            "+2026-11-26T05:28:52Z",
            "26-11-26T05:28:52Z",
            "",
            "2026",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
    }
}
