//! The client, from the credentials the command line was given: a connection string (flag or
//! `IOTHUB_CONNECTION_STRING`), or the developer's Azure CLI login for `--hub`; and the
//! endpoint to reach (`--endpoint`, `IOTHUB_ENDPOINT`), for a local hub.

use std::sync::Arc;

use iothub_jobs::{JobsClient, JobsClientOptions, auth::EntraCredential};

use crate::{
    args::{AuthType, Global},
    exit::Failure,
};

/// The domain of a hub's host name, added to a `--hub` given as a bare name.
const HUB_DOMAIN: &str = "azure-devices.net";

/// A client as `global` says. Nothing is sent until a command's first call.
pub fn client(global: &Global) -> Result<JobsClient, Failure> {
    let mut options = JobsClientOptions::default();
    if let Some(endpoint) = &global.endpoint {
        options = options.with_endpoint(endpoint);
    }
    match global.auth_type {
        AuthType::Key => {
            let Some(connection_string) = &global.connection_string else {
                return Err(Failure::Input(
                    "no credentials: set IOTHUB_CONNECTION_STRING (or --connection-string), \
                     or use your Azure CLI login with --hub NAME --auth-type login"
                        .to_owned(),
                ));
            };
            Ok(JobsClient::from_connection_string_with_options(
                connection_string,
                options,
            )?)
        }
        AuthType::Login => {
            let Some(hub) = &global.hub else {
                return Err(Failure::Input(
                    "--auth-type login needs the hub: --hub NAME (or IOTHUB_HUB)".to_owned(),
                ));
            };
            let host_name = if hub.contains('.') {
                hub.clone()
            } else {
                format!("{hub}.{HUB_DOMAIN}")
            };
            let login = azure_identity::AzureCliCredential::new(None)
                .map_err(|e| Failure::Other(format!("cannot use the Azure CLI login: {e}")))?;
            let credential = EntraCredential::new(login);
            Ok(JobsClient::new(&host_name, Arc::new(credential), options)?)
        }
    }
}
