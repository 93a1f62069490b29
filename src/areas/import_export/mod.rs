//! Import and export jobs (`/jobs/…`): the device registry to or from a blob container.
//! Start, read, list, cancel and wait; the typed requests are in `requests`.

mod requests;

use futures_core::Stream;

pub use requests::{ExportJob, ImportJob, StorageAuthentication};

use crate::{
    API_VERSION, Error, JobsClient, WaitOptions, areas::job_slots, areas::wait,
    call::retry::Replay, call::validate, models::JobProperties,
};

impl JobsClient {
    /// Starts an export of the hub's device identities to a blob container, and returns the
    /// job as the service created it (`enqueued`; its `job_id` is the service's). Waiting for it:
    /// [`wait_for_import_export_job`](Self::wait_for_import_export_job).
    ///
    /// The job is checked first (container URI, authentication, blob names): a problem fails
    /// with [`ErrorKind::InvalidJobRequest`](crate::ErrorKind::InvalidJobRequest) and nothing is sent. The hub runs one import or
    /// export job at a time: another one running fails with [`Error::is_job_quota_exceeded`],
    /// unless the client waits for it to end ([`JobsClientOptions::with_job_slot_wait`](crate::JobsClientOptions::with_job_slot_wait)).
    /// Leaves the devices' keys out unless the job asks for them ([`ExportJob`]).
    pub async fn export_devices(&self, job: ExportJob) -> Result<JobProperties, Error> {
        self.create_import_export_job(job.into_request()?).await
    }

    /// Starts an import of device identities from a blob container into the hub, and returns
    /// the job as the service created it; see [`export_devices`](Self::export_devices) for the
    /// checks and errors.
    pub async fn import_devices(&self, job: ImportJob) -> Result<JobProperties, Error> {
        self.create_import_export_job(job.into_request()?).await
    }

    async fn create_import_export_job(
        &self,
        request: JobProperties,
    ) -> Result<JobProperties, Error> {
        let slot_wait = self.job_slot_wait();
        job_slots::waiting_for_a_slot("create_import_export_job", "", slot_wait, || {
            // A create that may have reached the service is not sent again: it would start a
            // second job, or be refused because the first one runs.
            let call = self.caller().call(
                "create_import_export_job",
                "",
                Replay::IfRejected,
                |client| client.create_import_export_job(API_VERSION, &request),
            );
            async { Ok(call.await?.into_inner()) }
        })
        .await
    }

    /// The import or export job `job_id` as the service reports it now. An unknown id fails
    /// with [`Error::is_not_found`]; an invalid one with [`ErrorKind::InvalidJobId`](crate::ErrorKind::InvalidJobId), before
    /// anything is sent.
    pub async fn get_import_export_job(&self, job_id: &str) -> Result<JobProperties, Error> {
        validate::import_export_job_id(job_id)?;
        let call = self
            .caller()
            .call("get_import_export_job", job_id, Replay::Always, |client| {
                client.get_import_export_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Every import and export job the hub keeps (the service keeps them for 30 days).
    pub async fn list_import_export_jobs(&self) -> Result<Vec<JobProperties>, Error> {
        let call = self
            .caller()
            .call("list_import_export_jobs", "", Replay::Always, |client| {
                client.list_import_export_jobs(API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Cancels the import or export job `job_id`. The service answers `200` or `204`, both
    /// success; read the job again to see it `cancelled`. An unknown id fails with
    /// [`Error::is_not_found`].
    pub async fn cancel_import_export_job(&self, job_id: &str) -> Result<(), Error> {
        validate::import_export_job_id(job_id)?;
        let call = self.caller().call(
            "cancel_import_export_job",
            job_id,
            Replay::Always,
            |client| client.cancel_import_export_job(job_id, API_VERSION),
        );
        call.await?;
        Ok(())
    }

    /// Waits until the import or export job `job_id` completes, and returns it; as
    /// [`wait_for_job`](Self::wait_for_job) does for scheduled jobs (the same errors, with a
    /// `WaitFailure<JobProperties>` detail).
    pub async fn wait_for_import_export_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> Result<JobProperties, Error> {
        wait::outcome(self.watch_import_export_job(job_id, options)).await
    }

    /// Every state of the import or export job `job_id` seen while waiting for it to complete:
    /// the last item is the completed job or the error that ended the wait. Each state has the
    /// job's `progress` in percent.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient, job_id: &str) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    ///
    /// let mut states = std::pin::pin!(client.watch_import_export_job(job_id, Default::default()));
    /// while let Some(state) = states.next().await {
    ///     let job = state?;
    ///     eprintln!("{:?} {}%", job.status, job.progress.unwrap_or(0));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_import_export_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> impl Stream<Item = Result<JobProperties, Error>> + Send + 'static {
        let (client, id) = (self.clone(), job_id.to_owned());
        wait::until_completed(job_id, options, move || {
            let (client, id) = (client.clone(), id.clone());
            async move { client.get_import_export_job(&id).await }
        })
    }
}
