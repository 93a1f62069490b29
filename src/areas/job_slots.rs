//! Waiting for a free job slot: a hub runs only so many jobs at once (1, 5 or 10 scheduled jobs
//! by tier, one import or export job), and refuses a create beyond that. A create is sent again
//! only after one of those two refusals, which say the service did nothing; any other answer,
//! and a create that did not answer, ends the wait as it is.

use std::time::Instant;

use crate::{Error, WaitOptions, call::util};

/// What `create` answers, sent again with growing pauses (`wait`'s) while the hub refuses it
/// for want of a job slot ([`Error::is_job_limit_reached`]), until `wait`'s timeout; then the
/// last refusal. Without `wait`, `create` is sent once. A pause that would end past the timeout
/// is not started; a create in flight is never abandoned, since it may have taken effect.
pub(crate) async fn waiting_for_a_slot<T, F, Fut>(
    operation: &'static str,
    job_id: &str,
    wait: Option<&WaitOptions>,
    mut create: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let Some(wait) = wait else {
        return create().await;
    };
    let started = Instant::now();
    let deadline = util::deadline(started, wait.timeout());
    let mut pause = wait.first_pause();
    loop {
        let refused = match create().await {
            Err(error) if error.is_job_limit_reached() => error,
            answer => return answer,
        };
        let waited_ms = started.elapsed().as_millis() as u64;
        if pause >= deadline.saturating_duration_since(Instant::now()) {
            tracing::warn!(
                operation,
                job_id,
                waited_ms,
                code = refused.code(),
                "no job slot freed within the wait (JobsClientOptions::with_job_slot_wait)"
            );
            return Err(refused);
        }
        tracing::info!(
            operation,
            job_id,
            waited_ms,
            pause_ms = pause.as_millis() as u64,
            code = refused.code(),
            "the hub runs as many jobs as it allows; waiting for a slot"
        );
        tokio::time::sleep(pause).await;
        pause = wait.next_pause(pause);
    }
}
