//! Typed requests for import/export device jobs, checked before anything is sent.
//!
//! The checks apply only to what this crate sends: a job read back from the service is taken
//! as it comes (an empty container URI, nulls, unknown fields).

use std::fmt;

use crate::{
    Error,
    call::redact::{SasPlace, redacted_url, sas_in},
    call::validate,
    generated::types::{JobProperties, ManagedIdentity},
    models::{BlobContainerUri, JobType, StorageAuthenticationType},
};

/// The configurations setters both kinds of job have; `what` says which way they go.
macro_rules! configurations_setters {
    ($what:literal) => {
        #[doc = concat!("Also ", $what, " `configurations.txt`.")]
        pub fn with_configurations(mut self) -> Self {
            self.configurations.get_or_insert(None);
            self
        }

        #[doc = concat!("Also ", $what, " the blob `name`.")]
        pub fn with_configurations_blob_name(mut self, name: impl Into<String>) -> Self {
            self.configurations = Some(Some(name.into()));
            self
        }
    };
}

/// How the hub authenticates to the storage account of a job's blob containers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageAuthentication {
    /// Key-based: each container URI carries a SAS token (`…?sv=…&sig=…`) that grants the
    /// job its access.
    KeyBased,
    /// Identity-based, with the hub's system-assigned managed identity, which must have access
    /// to the storage account; the container URIs carry no SAS.
    SystemAssignedIdentity,
    /// Identity-based, with a user-assigned managed identity given by its resource id
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…`); the
    /// container URIs carry no SAS.
    UserAssignedIdentity(String),
}

/// A job that exports the hub's device identities (and optionally its configurations) to a
/// blob container, as newline-delimited JSON.
///
/// **Secure by default**: the export leaves out the devices' authentication keys (they are
/// written as `null`) unless [`with_authentication_keys`](Self::with_authentication_keys) asks
/// for them. The service's own default is the opposite: a request that does not say includes
/// the keys; this crate always says.
///
/// ```
/// use iothub_jobs::{ExportJob, StorageAuthentication};
///
/// let export = ExportJob::new(
///     "https://backups.blob.core.windows.net/devices",
///     StorageAuthentication::SystemAssignedIdentity,
/// )
/// .with_output_blob_name("devices-2026-12-01.txt")
/// .with_configurations();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ExportJob {
    output_container_uri: String,
    authentication: StorageAuthentication,
    output_blob_name: Option<String>,
    include_keys: bool,
    configurations: Option<Option<String>>,
}

impl ExportJob {
    /// An export to the blob container at `output_container_uri` (an absolute `https` URL; with
    /// a SAS token for [`StorageAuthentication::KeyBased`], without one otherwise).
    pub fn new(
        output_container_uri: impl Into<String>,
        authentication: StorageAuthentication,
    ) -> Self {
        Self {
            output_container_uri: output_container_uri.into(),
            authentication,
            output_blob_name: None,
            include_keys: false,
            configurations: None,
        }
    }

    /// The blob to write the devices to (the service's default: `devices.txt`).
    pub fn with_output_blob_name(mut self, name: impl Into<String>) -> Self {
        self.output_blob_name = Some(name.into());
        self
    }

    /// Includes the devices' authentication keys in the export. They are secrets: the blob
    /// then needs the protection the keys do.
    pub fn with_authentication_keys(mut self) -> Self {
        self.include_keys = true;
        self
    }

    configurations_setters!("exports the hub's configurations, to");

    pub(crate) fn into_request(self) -> Result<JobProperties, Error> {
        let output = checked_container_uri(
            "the output container URI",
            self.output_container_uri,
            &self.authentication,
        )?;
        let (include_configurations, configurations_blob_name) =
            configurations_fields(self.configurations)?;
        let (storage_authentication_type, identity) = authentication_fields(&self.authentication)?;
        Ok(JobProperties {
            type_: Some(JobType::Export),
            output_blob_container_uri: Some(output),
            output_blob_name: checked_blob_name("the output blob name", self.output_blob_name)?,
            exclude_keys_in_export: Some(!self.include_keys),
            include_configurations,
            configurations_blob_name,
            storage_authentication_type,
            identity,
            ..Default::default()
        })
    }
}

/// A job that imports device identities (and optionally configurations) from a blob
/// container into the hub: creating, updating or deleting each device as its line says. The
/// job writes its log (`importerrors.log`) to the output container.
///
/// ```
/// use iothub_jobs::{ImportJob, StorageAuthentication};
///
/// let import = ImportJob::new(
///     "https://staging.blob.core.windows.net/new-devices?sv=2024-08-04&sr=c&sp=rl&sig=…",
///     "https://staging.blob.core.windows.net/import-logs?sv=2024-08-04&sr=c&sp=rwl&sig=…",
///     StorageAuthentication::KeyBased,
/// )
/// .with_input_blob_name("devices.txt");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ImportJob {
    input_container_uri: String,
    output_container_uri: String,
    authentication: StorageAuthentication,
    input_blob_name: Option<String>,
    configurations: Option<Option<String>>,
}

impl ImportJob {
    /// An import from the blob container at `input_container_uri`, logging to the one at
    /// `output_container_uri` (both absolute `https` URLs; with a SAS token each for
    /// [`StorageAuthentication::KeyBased`], without one otherwise).
    pub fn new(
        input_container_uri: impl Into<String>,
        output_container_uri: impl Into<String>,
        authentication: StorageAuthentication,
    ) -> Self {
        Self {
            input_container_uri: input_container_uri.into(),
            output_container_uri: output_container_uri.into(),
            authentication,
            input_blob_name: None,
            configurations: None,
        }
    }

    /// The blob to read the devices from (the service's default: `devices.txt`).
    pub fn with_input_blob_name(mut self, name: impl Into<String>) -> Self {
        self.input_blob_name = Some(name.into());
        self
    }

    configurations_setters!("imports configurations, from");

    pub(crate) fn into_request(self) -> Result<JobProperties, Error> {
        let input = checked_container_uri(
            "the input container URI",
            self.input_container_uri,
            &self.authentication,
        )?;
        let output = checked_container_uri(
            "the output container URI",
            self.output_container_uri,
            &self.authentication,
        )?;
        let (include_configurations, configurations_blob_name) =
            configurations_fields(self.configurations)?;
        let (storage_authentication_type, identity) = authentication_fields(&self.authentication)?;
        Ok(JobProperties {
            type_: Some(JobType::Import),
            input_blob_container_uri: Some(input),
            input_blob_name: checked_blob_name("the input blob name", self.input_blob_name)?,
            output_blob_container_uri: Some(output),
            include_configurations,
            configurations_blob_name,
            storage_authentication_type,
            identity,
            ..Default::default()
        })
    }
}

/// `uri`, checked: an absolute `https` URL with a host, carrying a SAS (`sig`) exactly when
/// the job is key-based. Messages show it redacted.
fn checked_container_uri(
    what: &str,
    uri: String,
    authentication: &StorageAuthentication,
) -> Result<BlobContainerUri, Error> {
    let shown = redacted_url(&uri);
    let url = reqwest::Url::parse(&uri).map_err(|e| {
        validate::invalid_request(format!("{what} {shown} is not an absolute URL: {e}"))
    })?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(validate::invalid_request(format!(
            "{what} {shown} must be an https URL with a host: the job's data and its SAS must not travel in clear text"
        )));
    }
    match (authentication, sas_in(&url)) {
        (StorageAuthentication::KeyBased, Some(SasPlace::Query))
        | (
            StorageAuthentication::SystemAssignedIdentity
            | StorageAuthentication::UserAssignedIdentity(_),
            None,
        ) => Ok(BlobContainerUri::from(uri)),
        (StorageAuthentication::KeyBased, None) => Err(validate::invalid_request(format!(
            "{what} {shown} carries no SAS token (sig=…), which key-based authentication needs; \
             add one, or use an identity-based StorageAuthentication"
        ))),
        (StorageAuthentication::KeyBased, Some(SasPlace::Elsewhere)) => {
            Err(validate::invalid_request(format!(
                "{what} {shown} carries a SAS token outside its query, where storage will not read it \
                 (a `?` percent-encoded as %3F or typed as `&`?); put the token after a plain `?`"
            )))
        }
        (_, Some(_)) => Err(validate::invalid_request(format!(
            "{what} {shown} carries a SAS token, but the job authenticates with a managed identity; \
             remove the token (it would be sent for nothing), or use StorageAuthentication::KeyBased"
        ))),
    }
}

/// `storageAuthenticationType` and `identity` for `authentication`, checked.
fn authentication_fields(
    authentication: &StorageAuthentication,
) -> Result<(Option<StorageAuthenticationType>, Option<ManagedIdentity>), Error> {
    Ok(match authentication {
        StorageAuthentication::KeyBased => (Some(StorageAuthenticationType::KeyBased), None),
        StorageAuthentication::SystemAssignedIdentity => {
            (Some(StorageAuthenticationType::IdentityBased), None)
        }
        StorageAuthentication::UserAssignedIdentity(resource_id) => {
            if resource_id.trim().is_empty() {
                return Err(validate::invalid_request(
                    "the user-assigned identity's resource id is empty".to_owned(),
                ));
            }
            (
                Some(StorageAuthenticationType::IdentityBased),
                Some(ManagedIdentity {
                    user_assigned_identity: Some(resource_id.clone()),
                    ..Default::default()
                }),
            )
        }
    })
}

/// `includeConfigurations` and `configurationsBlobName`, when configurations are included.
fn configurations_fields(
    configurations: Option<Option<String>>,
) -> Result<(Option<bool>, Option<String>), Error> {
    match configurations {
        None => Ok((None, None)),
        Some(name) => Ok((
            Some(true),
            checked_blob_name("the configurations blob name", name)?,
        )),
    }
}

fn checked_blob_name(what: &str, name: Option<String>) -> Result<Option<String>, Error> {
    match name {
        Some(name) if name.trim().is_empty() => {
            Err(validate::invalid_request(format!("{what} is empty")))
        }
        name => Ok(name),
    }
}

impl fmt::Debug for ExportJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportJob")
            .field(
                "output_container_uri",
                &redacted_url(&self.output_container_uri),
            )
            .field("authentication", &self.authentication)
            .field("output_blob_name", &self.output_blob_name)
            .field("include_keys", &self.include_keys)
            .field("configurations", &self.configurations)
            .finish()
    }
}

impl fmt::Debug for ImportJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportJob")
            .field(
                "input_container_uri",
                &redacted_url(&self.input_container_uri),
            )
            .field(
                "output_container_uri",
                &redacted_url(&self.output_container_uri),
            )
            .field("authentication", &self.authentication)
            .field("input_blob_name", &self.input_blob_name)
            .field("configurations", &self.configurations)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const SAS: &str = "https://acct.blob.core.windows.net/devices?sv=2024-08-04&sr=c&sp=rwl&sig=c2VjcmV0LXNpZw%3D%3D";
    const PLAIN: &str = "https://acct.blob.core.windows.net/devices";

    #[test]
    fn an_export_leaves_keys_out_unless_asked_and_says_so() {
        let sent = serde_json::to_value(
            ExportJob::new(SAS, StorageAuthentication::KeyBased)
                .into_request()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(sent["type"], "export");
        assert_eq!(sent["excludeKeysInExport"], true, "sent explicitly");
        assert_eq!(sent["storageAuthenticationType"], "keyBased");
        assert_eq!(sent["outputBlobContainerUri"], SAS);
        assert!(sent.get("identity").is_none() && sent.get("includeConfigurations").is_none());
        let with_keys = ExportJob::new(PLAIN, StorageAuthentication::SystemAssignedIdentity)
            .with_authentication_keys()
            .with_configurations_blob_name("configs.txt")
            .with_output_blob_name("d.txt")
            .into_request()
            .unwrap();
        let sent = serde_json::to_value(with_keys).unwrap();
        assert_eq!(sent["excludeKeysInExport"], false);
        assert_eq!(sent["storageAuthenticationType"], "identityBased");
        assert_eq!(
            (
                &sent["includeConfigurations"],
                &sent["configurationsBlobName"]
            ),
            (&serde_json::json!(true), &serde_json::json!("configs.txt"))
        );
        assert_eq!(sent["outputBlobName"], "d.txt");
        let identity = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/e";
        let by_identity = ExportJob::new(
            PLAIN,
            StorageAuthentication::UserAssignedIdentity(identity.into()),
        );
        let sent = serde_json::to_value(by_identity.into_request().unwrap()).unwrap();
        assert_eq!(sent["identity"]["userAssignedIdentity"], identity);
    }

    #[test]
    fn an_import_names_both_containers_and_the_identity() {
        let identity = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i";
        let sent = serde_json::to_value(
            ImportJob::new(
                PLAIN,
                PLAIN,
                StorageAuthentication::UserAssignedIdentity(identity.into()),
            )
            .with_input_blob_name("in.txt")
            .with_configurations()
            .into_request()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(sent["type"], "import");
        assert_eq!(
            (
                &sent["inputBlobContainerUri"],
                &sent["outputBlobContainerUri"]
            ),
            (&serde_json::json!(PLAIN), &serde_json::json!(PLAIN))
        );
        assert_eq!(sent["identity"]["userAssignedIdentity"], identity);
        assert_eq!(sent["includeConfigurations"], true);
        assert!(
            sent.get("configurationsBlobName").is_none()
                && sent.get("excludeKeysInExport").is_none()
        );
        let named = ImportJob::new(PLAIN, PLAIN, StorageAuthentication::SystemAssignedIdentity)
            .with_configurations_blob_name("configs.txt");
        let sent = serde_json::to_value(named.into_request().unwrap()).unwrap();
        assert_eq!(
            (
                &sent["includeConfigurations"],
                &sent["configurationsBlobName"]
            ),
            (&serde_json::json!(true), &serde_json::json!("configs.txt"))
        );
    }

    #[test]
    fn bad_containers_are_refused_with_the_problem_named_and_no_secret() {
        let cases = [
            (
                ExportJob::new("devices", StorageAuthentication::KeyBased).into_request(),
                "not an absolute URL",
            ),
            (
                ExportJob::new(
                    "http://acct.blob.core.windows.net/d?sig=c2VjcmV0",
                    StorageAuthentication::KeyBased,
                )
                .into_request(),
                "https",
            ),
            (
                ExportJob::new(PLAIN, StorageAuthentication::KeyBased).into_request(),
                "no SAS token",
            ),
            (
                ExportJob::new(SAS, StorageAuthentication::SystemAssignedIdentity).into_request(),
                "carries a SAS token",
            ),
            (
                ImportJob::new(SAS, PLAIN, StorageAuthentication::KeyBased).into_request(),
                "output container URI",
            ),
            (
                ImportJob::new(
                    SAS,
                    PLAIN,
                    StorageAuthentication::UserAssignedIdentity("r".into()),
                )
                .into_request(),
                "input container URI",
            ),
            (
                ImportJob::new(
                    PLAIN,
                    PLAIN,
                    StorageAuthentication::UserAssignedIdentity(" ".into()),
                )
                .into_request(),
                "resource id",
            ),
            (
                ExportJob::new(SAS, StorageAuthentication::KeyBased)
                    .with_output_blob_name("")
                    .into_request(),
                "blob name",
            ),
        ];
        for (result, named) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest);
            let shown = format!("{error} {error:?}");
            assert!(shown.contains(named), "{shown}");
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
        }
    }

    #[test]
    fn debug_shows_where_and_how_never_the_sas() {
        const SIGNATURE: &str = "c2VjcmV0LXNpZw==";
        let export =
            ExportJob::new(SAS, StorageAuthentication::KeyBased).with_output_blob_name("d.txt");
        let import = ImportJob::new(SAS, PLAIN, StorageAuthentication::KeyBased)
            .with_input_blob_name("in.txt");
        for (shown, expected) in [
            (
                format!("{export:?}"),
                [
                    "ExportJob",
                    "acct.blob.core.windows.net/devices",
                    "KeyBased",
                    "d.txt",
                ],
            ),
            (
                format!("{import:?}"),
                [
                    "ImportJob",
                    "acct.blob.core.windows.net/devices",
                    "KeyBased",
                    "in.txt",
                ],
            ),
        ] {
            for part in expected {
                assert!(shown.contains(part), "{part} in {shown}");
            }
            crate::call::secret_forms::assert_hidden(&shown, SIGNATURE);
        }
        let request = export.into_request().unwrap();
        crate::call::secret_forms::assert_hidden(&format!("{request:?}"), SIGNATURE);
    }
}
