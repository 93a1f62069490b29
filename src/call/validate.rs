//! Input checked before anything is sent: host names, endpoints and job ids, each in one
//! place. Messages name the problem without repeating what could be a secret (a mangled
//! connection string puts its key in the host name; an endpoint may carry a password or SAS).

use std::{fmt, net::IpAddr};

use crate::{Error, ErrorKind, call::redact::redacted_url};

/// A hub's host name, checked: built only by [`HostName::parse`], so a constructor that takes
/// one has nothing left to check.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HostName(String);

impl HostName {
    /// A DNS host name: labels of letters, digits and `-` separated by dots, that a URL reads
    /// as that same host. Returns what is wrong without repeating the value.
    pub(crate) fn parse(host: &str) -> Result<Self, String> {
        const EXAMPLE: &str = "a bare host name such as 'myhub.azure-devices.net'";
        if host.contains("://") || host.contains('/') {
            return Err(format!("must be {EXAMPLE}, without scheme or path"));
        }
        if let Some((at, c)) = host
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            let shown = if c.is_ascii_graphic() || c == ' ' {
                format!("{c:?}")
            } else {
                format!("U+{:04X}", u32::from(c))
            };
            return Err(format!(
                "must be {EXAMPLE}: {shown} at byte {at} is not allowed"
            ));
        }
        let problem = if host.len() > 253 {
            Some(format!(
                "it is {} characters long, more than 253",
                host.len()
            ))
        } else {
            host.split('.').find_map(|label| {
                if label.is_empty() {
                    Some("a label is empty (two dots, or one at an end)".to_owned())
                } else if label.len() > 63 {
                    Some(format!(
                        "a label is {} characters long, more than 63",
                        label.len()
                    ))
                } else if label.starts_with('-') || label.ends_with('-') {
                    Some("a label starts or ends with '-'".to_owned())
                } else {
                    None
                }
            })
        };
        if let Some(problem) = problem {
            return Err(format!("must be {EXAMPLE}: {problem}"));
        }
        // A URL reads a host whose last label is a number as an IPv4 address (`1.2.3` is
        // 1.2.0.3, `999.1.1.1` none at all): no request could reach the hub named.
        let as_url_reads_it = url::Host::parse(host).ok().and_then(|parsed| match parsed {
            url::Host::Domain(domain) => Some(domain),
            url::Host::Ipv4(ip) => Some(ip.to_string()),
            url::Host::Ipv6(_) => None,
        });
        if as_url_reads_it.is_none_or(|read| !read.eq_ignore_ascii_case(host)) {
            return Err(format!(
                "must be {EXAMPLE}: its last label is a number, but it is not an IPv4 address"
            ));
        }
        Ok(Self(host.to_owned()))
    }

    /// [`parse`](Self::parse), with the problem as an [`ErrorKind::InvalidConfiguration`].
    pub(crate) fn checked(host: &str) -> Result<Self, Error> {
        Self::parse(host).map_err(|problem| {
            Error::new(
                ErrorKind::InvalidConfiguration,
                format!("host name {problem}"),
            )
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Where a client sends its requests.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Without a trailing `/`.
    pub base_url: String,
    /// On this machine: plain HTTP is allowed, and no proxy is used.
    pub loopback: bool,
}

/// `https://…`, or `http://` to loopback only, without user info, query or fragment. Messages
/// show the URL only as [`redacted_url`] does: a password or SAS in it must not reach logs.
pub(crate) fn endpoint(endpoint: &str) -> Result<Endpoint, Error> {
    let invalid = |problem: &str| {
        Error::new(
            ErrorKind::InvalidConfiguration,
            format!("endpoint {} {problem}", redacted_url(endpoint)),
        )
    };
    // The parser's messages name the problem, never the input.
    let url = reqwest::Url::parse(endpoint).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "carries user info, which is never sent: the credential authenticates",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry a query or fragment"));
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                "uses plain http, which is allowed only for loopback addresses; use https",
            ));
        }
        other => return Err(invalid(&format!("has scheme {other:?}; use https"))),
    }
    Ok(Endpoint {
        base_url: url.as_str().trim_end_matches('/').to_owned(),
        loopback,
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The longest job id the service accepts.
pub const MAX_JOB_ID_LEN: usize = 64;

/// Checks a scheduled job's id against the service's documented rule: 1–64 characters, each a
/// US-ASCII letter, digit or `-`. Anything else (`..`, `/`, `\`, `?`, spaces) would change the
/// request's path or query if sent, so it is refused here; so is `query` in any case, the
/// listing's own route (`GET /jobs/v2/query`).
pub(crate) fn job_id(job_id: &str) -> Result<(), Error> {
    checked_id(job_id, "query", "GET /jobs/v2/query, which lists jobs")
}

/// Checks an import or export job's id (the service gives them, as GUIDs) by the same rule;
/// `create` in any case is refused, the route that starts them (`POST /jobs/create`).
pub(crate) fn import_export_job_id(job_id: &str) -> Result<(), Error> {
    checked_id(job_id, "create", "POST /jobs/create, which starts jobs")
}

/// The error for a new job whose settings cannot work (no query condition, a container URI
/// without its SAS, …): `message` names the problem; nothing was sent.
pub(crate) fn invalid_request(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidJobRequest, message)
}

/// Checks `value`, which goes into a query's text between quotes, holds only ASCII letters:
/// nothing in it can end the string or add a condition.
pub(crate) fn query_word(what: &str, value: &str) -> Result<(), Error> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidJobRequest,
        format!(
            "{what} {} is not a word of ASCII letters, so it cannot go into a query",
            shorten(value)
        ),
    ))
}

/// `job_id` under the job-id rule, and not `route` (in any case), a path of its own.
fn checked_id(job_id: &str, route: &str, route_is: &str) -> Result<(), Error> {
    let problem = if job_id.is_empty() {
        "it is empty".to_owned()
    } else if let Some((at, c)) = job_id
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        format!("{c:?} at byte {at} is not allowed")
    } else if job_id.len() > MAX_JOB_ID_LEN {
        format!("it is {} characters long", job_id.len())
    } else if job_id.eq_ignore_ascii_case(route) {
        format!("it names {route_is}, so no such job could be read")
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
    fn endpoints_are_https_or_loopback_http() {
        for ok in [
            "https://hub.example.com",
            "https://proxy:8443/iothub/",
            "http://127.0.0.1:8080",
            "http://127.9.0.1",
            "http://[::1]:1",
            "http://localhost:9",
        ] {
            assert!(endpoint(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            endpoint("https://proxy:8443/iothub/").unwrap().base_url,
            "https://proxy:8443/iothub"
        );
        assert!(endpoint("http://127.9.0.1").unwrap().loopback);
        assert!(endpoint("https://localhost").unwrap().loopback);
        assert!(!endpoint("https://hub.example.com").unwrap().loopback);
        for bad in [
            "http://10.0.0.1",
            "http://hub.azure-devices.net",
            "ftp://x",
            "hub.azure-devices.net",
            "https://x/?a=1",
            "https://u:p@x",
        ] {
            let error = endpoint(bad).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidConfiguration, "{bad}");
        }
    }

    #[test]
    fn host_names_follow_dns_and_say_what_is_wrong() {
        let label = |n: usize| "a".repeat(n);
        let longest = [label(63), label(63), label(63), label(61)].join(".");
        assert_eq!(longest.len(), 253);
        for ok in ["hub.azure-devices.net", "a", "a-b.c9", &label(63), &longest] {
            assert!(HostName::parse(ok).is_ok(), "{ok}");
        }
        for (bad, expected) in [
            ("hub/x", "without scheme or path"),
            ("https://hub", "without scheme or path"),
            ("hub name", "' ' at byte 3"),
            ("hub\tname", "U+0009 at byte 3"),
            ("a..b", "a label is empty"),
            (".hub", "a label is empty"),
            ("hub.", "a label is empty"),
            (&label(64), "a label is 64 characters long"),
            ("-hub.net", "starts or ends with '-'"),
            ("hub-.net", "starts or ends with '-'"),
            (&format!("{longest}a"), "254 characters long, more than 253"),
        ] {
            let problem = HostName::parse(bad).unwrap_err();
            assert!(problem.contains(expected), "{bad:?}: {problem}");
        }
        assert_eq!(
            format!("{:?}", HostName::parse("hub.example.com").unwrap()),
            "\"hub.example.com\""
        );
    }

    #[test]
    fn accepts_every_allowed_character_class_up_to_64() {
        for id in ["a", "Z", "7", "-", "job-2024-Z9", &"x".repeat(64)] {
            assert!(job_id(id).is_ok(), "{id}");
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
            let err = job_id(id).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidJobId);
            assert!(err.to_string().contains(expected), "{id}: {err}");
        }
    }

    #[test]
    fn import_export_ids_take_the_same_rule_and_not_create() {
        assert!(import_export_job_id("8f560573-97d5-48d3-a524-6a2d536356e9").is_ok());
        assert!(
            import_export_job_id("query").is_ok(),
            "only the scheduled jobs have that route"
        );
        for (id, expected) in [
            ("Create", "POST /jobs/create"),
            ("a/b", "'/'"),
            ("", "empty"),
        ] {
            let error = import_export_job_id(id).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidJobId);
            assert!(error.to_string().contains(expected), "{id}: {error}");
        }
    }

    #[test]
    fn rejects_65_characters_and_keeps_the_message_short() {
        let err = job_id(&"x".repeat(65)).unwrap_err();
        assert!(err.to_string().contains("65 characters"), "{err}");
        let err = job_id(&"y".repeat(100_000)).unwrap_err();
        let shown = format!("\"{}\"…:", "y".repeat(MAX_JOB_ID_LEN + 8));
        assert!(
            err.to_string().contains(&shown),
            "the id, cut at 72 characters: {err}"
        );
        assert!(
            job_id("a/b")
                .unwrap_err()
                .to_string()
                .contains("id \"a/b\":")
        );
    }
}
