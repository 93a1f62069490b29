//! What secrets look like when they must be shown, and where they hide: a URL that may carry
//! a password or a SAS is shown by [`redacted_url`], in messages, `Debug` and `Display` alike;
//! [`sas_in`] finds a SAS wherever it was put.

use percent_encoding::percent_decode_str;

/// `url` as messages and `Debug` show it: scheme, host, port and the path's plain segments,
/// with user info, query and fragment replaced by `<redacted>` (they may hold a password or a
/// SAS) — and the path too from its first segment that is not plain (a SAS whose `?` arrived
/// percent-encoded or typed as `&`, or `sig=` as a segment, lands in the path).
pub(crate) fn redacted_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return format!("<not a URL, {} characters>", url.chars().count());
    };
    let user_info = if parsed.username().is_empty() && parsed.password().is_none() {
        ""
    } else {
        "<redacted>@"
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut shown = format!(
        "{}://{user_info}{}{port}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
    );
    for segment in parsed.path().split('/').skip(1) {
        if !is_plain(segment) {
            shown.push_str("/<redacted>");
            break;
        }
        shown.push('/');
        shown.push_str(segment);
    }
    if parsed.query().is_some() {
        shown.push_str("?<redacted>");
    }
    if parsed.fragment().is_some() {
        shown.push_str("#<redacted>");
    }
    shown
}

/// A path segment that cannot hide a secret: URL-unreserved characters only (no `%`, `=`,
/// `&`, `;`), as container and blob names are.
fn is_plain(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Where a URL carries a SAS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SasPlace {
    /// As a query parameter `sig`, where Azure Storage reads it.
    Query,
    /// Anywhere else: in the path (its `?` percent-encoded or typed as `&`), the fragment,
    /// the user info, or a query value.
    Elsewhere,
}

/// Where `url` carries a SAS, if it does. A SAS is a `sig` field in any ASCII case: Azure
/// Storage's .NET SDK (`SasQueryParameters`) reads `sig` and `SIG`, and counting every case
/// errs towards redacting and refusing. The local hub counts alike.
pub(crate) fn sas_in(url: &reqwest::Url) -> Option<SasPlace> {
    if url
        .query_pairs()
        .any(|(name, _)| name.eq_ignore_ascii_case("sig"))
    {
        return Some(SasPlace::Query);
    }
    let parts = [
        Some(url.username()),
        url.password(),
        Some(url.path()),
        url.query(),
        url.fragment(),
    ];
    parts
        .into_iter()
        .flatten()
        .any(|part| decoded(part).to_ascii_lowercase().contains("sig="))
        .then_some(SasPlace::Elsewhere)
}

/// `text` percent-decoded until it no longer changes (at most a few times): a SAS encoded
/// twice is still a SAS.
fn decoded(text: &str) -> String {
    let mut text = text.to_owned();
    for _ in 0..4 {
        let once = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if once == text {
            break;
        }
        text = once;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redacted_url_keeps_where_it_points_and_hides_the_rest() {
        for (url, shown) in [
            (
                "https://hub.example.com:8443/a/b",
                "https://hub.example.com:8443/a/b",
            ),
            (
                "https://user@hub.example.com/",
                "https://<redacted>@hub.example.com/",
            ),
            (
                "https://:pass@hub.example.com/",
                "https://<redacted>@hub.example.com/",
            ),
            (
                "https://hub.example.com/c?sig=x#f",
                "https://hub.example.com/c?<redacted>#<redacted>",
            ),
            ("no url at all", "<not a URL, 13 characters>"),
            (
                "https://a.blob.core.windows.net/backups%3Fsv=1%26sig=c2VjcmV0",
                "https://a.blob.core.windows.net/<redacted>",
            ),
            (
                "https://a.blob.core.windows.net/backups&sv=1&sig=c2VjcmV0",
                "https://a.blob.core.windows.net/<redacted>",
            ),
            (
                "https://a.blob.core.windows.net/backups/sig=c2VjcmV0/x",
                "https://a.blob.core.windows.net/backups/<redacted>",
            ),
            (
                "https://a.blob.core.windows.net/my-backups_2.x~/",
                "https://a.blob.core.windows.net/my-backups_2.x~/",
            ),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }

    #[test]
    fn a_sas_is_found_wherever_it_was_put() {
        let place = |url: &str| sas_in(&reqwest::Url::parse(url).unwrap());
        for url in [
            "https://a.blob/c?sv=1&sig=x",
            "https://a.blob/c?SIG=x",
            "https://a.blob/c?Sig=x&sv=1",
        ] {
            assert_eq!(place(url), Some(SasPlace::Query), "{url}");
        }
        for url in [
            "https://a.blob/c%3Fsv=1%26sig=x",
            "https://a.blob/c%253Fsv=1%2526SIG%253Dx",
            "https://a.blob/c&sv=1&sig=x",
            "https://a.blob/c/sig=x",
            "https://a.blob/c#sv=1&sig=x",
            "https://sig=x@a.blob/c",
            "https://u:sig=x@a.blob/c",
            "https://a.blob/c?next=%26sig%3Dx",
        ] {
            assert_eq!(place(url), Some(SasPlace::Elsewhere), "{url}");
        }
        for url in [
            "https://a.blob/c",
            "https://a.blob/signal?design=1",
            "https://a.blob/c?sv=1",
        ] {
            assert_eq!(place(url), None, "{url}");
        }
    }
}
