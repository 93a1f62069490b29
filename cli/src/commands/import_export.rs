//! `iothub-jobs import-export …`: jobs that export or import the hub's device identities, with
//! `--wait` showing their progress.

use std::pin::pin;

use futures_util::StreamExt as _;
use iothub_jobs::{ExportJob, ImportJob, StorageAuthentication, models::JobProperties};

use super::{Context, ended_wait, until_interrupted, wait_options};
use crate::{
    args::{ImportExportCommand, Storage, StorageAuth},
    exit::{Failure, Outcome},
};

pub async fn run(context: &Context, command: ImportExportCommand) -> Outcome {
    let client = &context.client;
    match command {
        ImportExportCommand::Export {
            output_container,
            include_keys,
            storage,
        } => {
            let mut job = ExportJob::new(output_container, authentication(&storage)?);
            if include_keys {
                job = job.with_authentication_keys();
            }
            let wait = storage
                .wait
                .then(|| wait_options(&storage.polling))
                .transpose()?;
            let created = client.export_devices(job).await?;
            finish(context, created, wait).await
        }
        ImportExportCommand::Import {
            input_container,
            output_container,
            storage,
        } => {
            let job = ImportJob::new(input_container, output_container, authentication(&storage)?);
            let wait = storage
                .wait
                .then(|| wait_options(&storage.polling))
                .transpose()?;
            let created = client.import_devices(job).await?;
            finish(context, created, wait).await
        }
        ImportExportCommand::Show(job) => context
            .output
            .document(&shown(&client.get_import_export_job(job.get()).await?)),
        ImportExportCommand::List => {
            let jobs = client.list_import_export_jobs().await?;
            context
                .output
                .document(&jobs.iter().map(shown).collect::<Vec<_>>())
        }
        ImportExportCommand::Cancel(job) => {
            client.cancel_import_export_job(job.get()).await?;
            context
                .output
                .document(&shown(&client.get_import_export_job(job.get()).await?))
        }
    }
}

/// `job` as printed: its container URIs without their SAS tokens (secrets that grant the
/// storage account), as the SDK shows them.
fn shown(job: &JobProperties) -> serde_json::Value {
    let mut value = serde_json::to_value(job).unwrap_or_default();
    for (field, uri) in [
        ("inputBlobContainerUri", &job.input_blob_container_uri),
        ("outputBlobContainerUri", &job.output_blob_container_uri),
    ] {
        if let Some(uri) = uri {
            value[field] = serde_json::Value::String(uri.to_string());
        }
    }
    value
}

fn authentication(storage: &Storage) -> Result<StorageAuthentication, Failure> {
    match (storage.storage_auth_type, &storage.identity) {
        (StorageAuth::KeyBased, None) => Ok(StorageAuthentication::KeyBased),
        (StorageAuth::KeyBased, Some(_)) => Err(Failure::Input(
            "--identity is for --storage-auth-type identityBased".to_owned(),
        )),
        (StorageAuth::IdentityBased, None) => Ok(StorageAuthentication::SystemAssignedIdentity),
        (StorageAuth::IdentityBased, Some(identity)) => Ok(
            StorageAuthentication::UserAssignedIdentity(identity.clone()),
        ),
    }
}

/// Prints the job created, or with a wait, the job once it completed, a bar showing its
/// progress meanwhile; one that fails, is cancelled or does not complete in time is printed as
/// last seen, with exit code 3.
async fn finish(
    context: &Context,
    created: JobProperties,
    wait: Option<iothub_jobs::WaitOptions>,
) -> Outcome {
    let Some(options) = wait else {
        return context.output.document(&shown(&created));
    };
    let id = created.job_id.clone().unwrap_or_default();
    let bar = context.progress.bar(100, format!("job {id}"));
    let waited = until_interrupted(
        async {
            let mut states = pin!(context.client.watch_import_export_job(&id, options));
            let mut last = Ok(created.clone());
            while let Some(state) = states.next().await {
                if let Ok(job) = &state {
                    bar.set_position(job.progress.unwrap_or(0).clamp(0, 100) as u64);
                    bar.set_message(format!(
                        "job {id}: {}",
                        job.status
                            .as_ref()
                            .map_or("unknown".to_owned(), ToString::to_string)
                    ));
                }
                last = state;
            }
            Ok(last)
        },
        || format!("job {id} runs on: see it with `iothub-jobs import-export show {id}`"),
    )
    .await;
    bar.finish_and_clear();
    ended_wait(context, waited?, shown)
}
