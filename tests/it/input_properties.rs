//! Properties of input checks over generated inputs, through the public API: what surrounds
//! a secret never brings it into a message, and what surrounds a connection string never
//! changes what it says.

use std::sync::Arc;

use iothub_jobs::{
    JobsClient, JobsClientOptions,
    auth::{ConnectionString, SasTokenCredential},
};

proptest::proptest! {
    /// Whatever surrounds a secret in an endpoint, neither the refusal nor `Debug` shows it.
    #[test]
    fn no_endpoint_leaks_its_user_info_or_query(
        scheme in "(https|http|ftp|HTTPS)",
        user in "[a-zA-Z0-9._~-]{0,8}",
        secret in "[a-zA-Z0-9]{12,20}",
        host in "(127\\.0\\.0\\.1|localhost|hub\\.example\\.com|\\[::1\\]|10\\.0\\.0\\.1|999\\.1\\.1\\.1|)",
        port in proptest::option::of(0u32..70_000),
        path in "(/[a-z]{0,6}){0,2}",
        place in 0..4,
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let endpoint = match place {
            0 => format!("{scheme}://{user}:{secret}@{host}{port}{path}"),
            1 => format!("{scheme}://{host}{port}{path}?sig={secret}"),
            2 => format!("{scheme}://{host}{port}{path}#{secret}"),
            _ => format!("{scheme}:/{user}:{secret}@@{host}{port}{path}?x={secret}"),
        };
        let options = JobsClientOptions::default().with_endpoint(&endpoint);
        let shown = format!("{options:?}");
        proptest::prop_assert!(!shown.contains(&secret), "{}", shown);
        let credential = Arc::new(
            SasTokenCredential::new("SharedAccessSignature sr=h&sig=x&se=1&skn=p").unwrap(),
        );
        let error = JobsClient::new("hub.example.com", credential, options).err().unwrap();
        let shown = format!("{error} {error:?}");
        proptest::prop_assert!(!shown.contains(&secret), "{} -> {}", endpoint, shown);
    }

    /// Byte order marks and whitespace around a string never change what it says.
    #[test]
    fn padding_around_a_connection_string_changes_nothing(
        before in "[\u{feff} \t\r\n]{0,4}",
        after in "[\u{feff} \t\r\n]{0,4}",
        signature_form in proptest::bool::ANY,
    ) {
        let plain = if signature_form {
            "HostName=hub.azure-devices.net;SharedAccessSignature=SharedAccessSignature sr=hub&sig=x&se=1&skn=p"
        } else {
            "HostName=hub.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ="
        };
        let expected = format!("{:?}", ConnectionString::parse(plain).unwrap());
        let padded = ConnectionString::parse(&format!("{before}{plain}{after}"));
        proptest::prop_assert_eq!(padded.map(|p| format!("{p:?}")), Ok(expected));
    }
}
