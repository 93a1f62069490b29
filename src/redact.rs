//! What secrets look like when they must be shown: a URL that may carry a password or a SAS
//! is shown by [`redacted_url`], in messages, `Debug` and `Display` alike.

/// `url` as messages and `Debug` show it: scheme, host, port and path, with user info, query
/// and fragment replaced by `<redacted>` (they may hold a password or a SAS).
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
        "{}://{user_info}{}{port}{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.path()
    );
    if parsed.query().is_some() {
        shown.push_str("?<redacted>");
    }
    if parsed.fragment().is_some() {
        shown.push_str("#<redacted>");
    }
    shown
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
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }
}
