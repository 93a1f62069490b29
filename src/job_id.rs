//! The service's rule for job ids, checked before anything is sent.

use crate::error::{Error, ErrorKind};

/// The longest job id the service accepts.
pub const MAX_JOB_ID_LEN: usize = 64;

/// The one id that is also a route: `GET /jobs/v2/query` lists jobs.
const QUERY: &str = "query";

/// Checks `job_id` against the service's documented rule: 1–64 characters, each a US-ASCII
/// letter, digit or `-`. Anything else (`..`, `/`, `\`, `?`, spaces) would change the request's
/// path or query if sent, so it is refused here; so is `query` in any case, a route of its own.
pub(crate) fn validate_job_id(job_id: &str) -> Result<(), Error> {
    let problem = if job_id.is_empty() {
        "it is empty".to_owned()
    } else if let Some((at, c)) = job_id
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        format!("{c:?} at byte {at} is not allowed")
    } else if job_id.len() > MAX_JOB_ID_LEN {
        format!("it is {} characters long", job_id.len())
    } else if job_id.eq_ignore_ascii_case(QUERY) {
        "it names GET /jobs/v2/query, which lists jobs, so no such job could be read".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::InvalidJobId,
        format!(
            "invalid job id {}: {problem}; a job id is 1-{MAX_JOB_ID_LEN} US-ASCII letters, digits and '-'",
            shorten(job_id)
        ),
    ))
}

/// Quotes an id for an error message without letting a huge argument flood it.
fn shorten(id: &str) -> String {
    const SHOWN: usize = MAX_JOB_ID_LEN + 8;
    match id.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &id[..cut]),
        None => format!("{id:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_character_class_up_to_64() {
        for id in ["a", "Z", "7", "-", "job-2024-Z9", &"x".repeat(64)] {
            assert!(validate_job_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_ids_that_would_change_the_request() {
        for (id, expected) in [
            ("", "it is empty"),
            ("..", "'.' at byte 0"),
            ("a\\b", "'\\\\' at byte 1"),
            ("a/b?x=1", "'/' at byte 1"),
            ("job 1", "' ' at byte 3"),
            ("jöb", "'ö' at byte 1"),
            ("a_b", "'_' at byte 1"),
            ("query", "GET /jobs/v2/query"),
            ("Query", "GET /jobs/v2/query"),
        ] {
            let err = validate_job_id(id).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidJobId);
            assert!(err.to_string().contains(expected), "{id}: {err}");
        }
    }

    #[test]
    fn rejects_65_characters_and_keeps_the_message_short() {
        let err = validate_job_id(&"x".repeat(65)).unwrap_err();
        assert!(err.to_string().contains("65 characters"), "{err}");
        let err = validate_job_id(&"y".repeat(100_000)).unwrap_err();
        assert!(err.to_string().len() < 300, "{err}");
    }
}
