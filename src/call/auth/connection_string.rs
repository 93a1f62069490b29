//! Service connection strings: `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`, or
//! `HostName=…;SharedAccessSignature=SharedAccessSignature sr=…` instead of the key pair.

use std::{fmt, sync::Arc, time::Duration};

use base64::Engine as _;

use super::{Credential, SasKeyCredential, SasTokenCredential};
use crate::{Error, ErrorKind, call::validate::HostName};

/// Why a connection string was refused. Never contains the key or the signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringError {
    /// The string is empty or only whitespace.
    #[error("the connection string is empty; copy it from the hub's 'Shared access policies' page")]
    Empty,
    /// A `;`-separated part has no `=` (only its position is reported: it may be key material).
    #[error(
        "part {position} of the connection string has no '='; expected Name=Value pairs separated by ';'"
    )]
    MissingEquals {
        /// The 1-based position of the part.
        position: usize,
    },
    /// A part is empty (`;;`).
    #[error("part {position} of the connection string is empty (two ';' in a row)")]
    EmptyPart {
        /// The 1-based position of the part.
        position: usize,
    },
    /// A name appears twice.
    #[error("'{name}' appears more than once in the connection string")]
    Duplicate {
        /// The name as the string spells it.
        name: String,
    },
    /// A value is empty.
    #[error("'{name}' has an empty value in the connection string")]
    EmptyValue {
        /// The name as the string spells it.
        name: String,
    },
    /// A required name is missing.
    #[error("the connection string has no '{name}'{hint}")]
    Missing {
        /// The missing name.
        name: &'static str,
        /// Advice on what the caller probably passed instead.
        hint: &'static str,
    },
    /// Both `SharedAccessKey` and `SharedAccessSignature` are present.
    #[error(
        "the connection string has both 'SharedAccessKey' and 'SharedAccessSignature'; keep one"
    )]
    KeyAndSignature,
    /// `SharedAccessKey` is not base64.
    #[error(
        "'SharedAccessKey' is not valid base64; copy the key again from the hub's shared access policy"
    )]
    InvalidKey,
    /// `SharedAccessSignature` does not start with `SharedAccessSignature `.
    #[error(
        "'SharedAccessSignature' must be a whole token starting with 'SharedAccessSignature sr='"
    )]
    InvalidSignature,
    /// `HostName` is not a host name.
    #[error("'HostName' {0}")]
    InvalidHostName(String),
}

/// A parsed service connection string. Its `Debug` output hides the key and the signature.
///
/// ```
/// use iothub_jobs::auth::ConnectionString;
///
/// let parsed: ConnectionString =
///     "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=cGFzc3dvcmQ=".parse()?;
/// assert_eq!(parsed.host_name(), "myhub.azure-devices.net");
/// assert_eq!(parsed.shared_access_key_name(), Some("iothubowner"));
/// # Ok::<_, iothub_jobs::auth::ConnectionStringError>(())
/// ```
pub struct ConnectionString {
    host_name: HostName,
    access: SharedAccess,
}

/// How a connection string authenticates.
enum SharedAccess {
    Key { key_name: String, key: Vec<u8> },
    Signature(String),
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match &self.access {
            SharedAccess::Key { key_name, .. } => {
                format!("Key {{ key_name: {key_name:?}, key: <redacted> }}")
            }
            SharedAccess::Signature(_) => "Signature(<redacted>)".to_owned(),
        };
        f.debug_struct("ConnectionString")
            .field("host_name", &self.host_name)
            .field("access", &access)
            .finish()
    }
}

impl std::str::FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl ConnectionString {
    /// The hub's host name (`HostName`).
    pub fn host_name(&self) -> &str {
        self.host_name.as_str()
    }

    /// The shared access policy's name (`SharedAccessKeyName`); `None` in the signature form,
    /// where the token names it.
    pub fn shared_access_key_name(&self) -> Option<&str> {
        match &self.access {
            SharedAccess::Key { key_name, .. } => Some(key_name),
            SharedAccess::Signature(_) => None,
        }
    }

    /// The hub's (checked) host name and the credential the string describes: minted, cached
    /// SAS tokens of `token_lifetime` from a key, or the given signature as it is.
    pub(crate) fn into_credential(
        self,
        token_lifetime: Duration,
    ) -> Result<(HostName, Arc<dyn Credential>), Error> {
        let credential: Arc<dyn Credential> = match self.access {
            SharedAccess::Key { key_name, key } => Arc::new(
                SasKeyCredential::from_key_bytes(&self.host_name, &key_name, key)?
                    .with_token_lifetime(token_lifetime)?,
            ),
            SharedAccess::Signature(token) => Arc::new(SasTokenCredential::new(&token)?),
        };
        Ok((self.host_name, credential))
    }

    /// Parses `Name=Value` pairs separated by `;`: names in any case, whitespace around parts
    /// and one trailing `;` tolerated, unknown names ignored. A byte order mark (U+FEFF, as
    /// files saved on Windows start with) is ignored with the whitespace around the string.
    pub fn parse(text: &str) -> Result<Self, ConnectionStringError> {
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        let text = text.strip_suffix(';').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let mut host_name = None;
        let mut key_name = None;
        let mut key = None;
        let mut signature = None;
        for (index, part) in text.split(';').enumerate() {
            let position = index + 1;
            let part = part.trim();
            if part.is_empty() {
                return Err(ConnectionStringError::EmptyPart { position });
            }
            // Split on the first '=' only: base64 keys end in '='.
            let (name, value) = part
                .split_once('=')
                .ok_or(ConnectionStringError::MissingEquals { position })?;
            let (name, value) = (name.trim(), value.trim());
            let slot = match name.to_ascii_lowercase().as_str() {
                "hostname" => &mut host_name,
                "sharedaccesskeyname" => &mut key_name,
                "sharedaccesskey" => &mut key,
                "sharedaccesssignature" => &mut signature,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ConnectionStringError::Duplicate {
                    name: name.to_owned(),
                });
            }
            if value.is_empty() {
                return Err(ConnectionStringError::EmptyValue {
                    name: name.to_owned(),
                });
            }
            *slot = Some(value);
        }
        let host_name = host_name.ok_or(ConnectionStringError::Missing {
            name: "HostName",
            hint: "",
        })?;
        let host_name =
            HostName::parse(host_name).map_err(ConnectionStringError::InvalidHostName)?;
        let access = match (key, signature) {
            (Some(_), Some(_)) => return Err(ConnectionStringError::KeyAndSignature),
            (Some(key), None) => SharedAccess::Key {
                key_name: key_name
                    .ok_or(ConnectionStringError::Missing {
                        name: "SharedAccessKeyName",
                        hint: "; is this a device connection string? Jobs need a service policy such as 'iothubowner'",
                    })?
                    .to_owned(),
                key: base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .map_err(|_| ConnectionStringError::InvalidKey)?,
            },
            (None, Some(signature)) if signature.starts_with("SharedAccessSignature ") => {
                SharedAccess::Signature(signature.to_owned())
            }
            (None, Some(_)) => return Err(ConnectionStringError::InvalidSignature),
            (None, None) => {
                return Err(ConnectionStringError::Missing {
                    name: "SharedAccessKey",
                    hint: " (nor 'SharedAccessSignature')",
                });
            }
        };
        Ok(Self { host_name, access })
    }
}

impl From<ConnectionStringError> for Error {
    fn from(error: ConnectionStringError) -> Self {
        Error::new(ErrorKind::InvalidConnectionString, error.to_string()).with_detail(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::secret_forms::assert_hidden;

    const KEY: &str = "cGFzc3dvcmQ=";

    fn parse(text: &str) -> Result<ConnectionString, ConnectionStringError> {
        ConnectionString::parse(text)
    }

    #[test]
    fn parses_the_key_form_with_any_name_case_whitespace_and_a_trailing_semicolon() {
        for text in [
            "HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=cGFzc3dvcmQ=",
            " hostname = hub.azure-devices.net ; SHAREDACCESSKEYNAME=iothubowner;sharedaccesskey=cGFzc3dvcmQ=; ",
            "SharedAccessKey=cGFzc3dvcmQ=;HostName=hub.azure-devices.net;GatewayHostName=x;SharedAccessKeyName=iothubowner",
        ] {
            let parsed = parse(text).unwrap();
            assert_eq!(parsed.host_name(), "hub.azure-devices.net");
            match parsed.access {
                SharedAccess::Key { key_name, key } => {
                    assert_eq!(key_name, "iothubowner");
                    assert_eq!(key, b"password");
                }
                SharedAccess::Signature(_) => panic!("expected a key"),
            }
        }
    }

    #[test]
    fn parses_the_signature_form_and_sovereign_cloud_hosts() {
        let text = "HostName=hub.azure-devices.cn;SharedAccessSignature=SharedAccessSignature sr=hub.azure-devices.cn&sig=abc%3D&se=1&skn=p";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.host_name(), "hub.azure-devices.cn");
        assert!(matches!(parsed.access, SharedAccess::Signature(s) if s.ends_with("skn=p")));
        for host in [
            "hub.azure-devices.us",
            "hub.private.contoso.internal",
            "localhost",
        ] {
            let text = format!("HostName={host};SharedAccessKeyName=p;SharedAccessKey={KEY}");
            assert_eq!(parse(&text).unwrap().host_name(), host);
        }
    }

    #[test]
    fn refuses_each_malformed_string_with_an_error_that_names_the_problem() {
        use ConnectionStringError::*;
        let cases: &[(&str, ConnectionStringError)] = &[
            ("", Empty),
            ("  ;", Empty),
            (
                "HostName=h;;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
                EmptyPart { position: 2 },
            ),
            (
                "HostName=h;SharedAccessKeyName=p;cGFzc3dvcmQ",
                MissingEquals { position: 3 },
            ),
            (
                "HostName=h;hostname=h2;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
                Duplicate {
                    name: "hostname".into(),
                },
            ),
            (
                "HostName=;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
                EmptyValue {
                    name: "HostName".into(),
                },
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=",
                EmptyValue {
                    name: "SharedAccessKey".into(),
                },
            ),
            (
                "SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
                Missing {
                    name: "HostName",
                    hint: "",
                },
            ),
            (
                "HostName=h;SharedAccessKeyName=p",
                Missing {
                    name: "SharedAccessKey",
                    hint: " (nor 'SharedAccessSignature')",
                },
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=;SharedAccessSignature=SharedAccessSignature sr=h",
                KeyAndSignature,
            ),
            (
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey=not*base64!",
                InvalidKey,
            ),
            (
                "HostName=h;SharedAccessSignature=sr=h&sig=x",
                InvalidSignature,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), *expected, "{text}");
        }
        let device = parse("HostName=h;DeviceId=d;SharedAccessKey=cGFzc3dvcmQ=").unwrap_err();
        assert!(
            device.to_string().contains("device connection string"),
            "{device}"
        );
        assert!(matches!(
            parse("HostName=https://h/;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=")
                .unwrap_err(),
            InvalidHostName(_)
        ));
    }

    #[test]
    fn debug_names_the_hub_and_policy_and_hides_the_secret() {
        let key = parse(&format!(
            "HostName=hub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"
        ))
        .unwrap();
        assert_eq!(key.shared_access_key_name(), Some("iothubowner"));
        assert_eq!(
            format!("{key:?}"),
            r#"ConnectionString { host_name: "hub.azure-devices.net", access: "Key { key_name: \"iothubowner\", key: <redacted> }" }"#
        );
        let signature = parse("HostName=hub.azure-devices.net;SharedAccessSignature=SharedAccessSignature sr=hub&sig=x&se=1&skn=p").unwrap();
        assert_eq!(
            signature.shared_access_key_name(),
            None,
            "the token names its policy"
        );
        assert_eq!(
            format!("{signature:?}"),
            r#"ConnectionString { host_name: "hub.azure-devices.net", access: "Signature(<redacted>)" }"#
        );
    }

    #[test]
    fn a_byte_order_mark_and_surrounding_whitespace_are_ignored() {
        let plain =
            "HostName=hub.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=";
        for text in [
            format!("\u{feff}{plain}"),
            format!("\u{feff} \t{plain}\r\n"),
            format!(" \u{feff}{plain}\u{feff}\n"),
        ] {
            let parsed = parse(&text).unwrap();
            assert_eq!(parsed.host_name(), "hub.azure-devices.net", "{text:?}");
        }
    }

    #[test]
    fn a_host_name_no_url_can_hold_is_refused() {
        // A numeric last label makes a URL read the host as an IPv4 address.
        for host in ["999.1.1.1", "1.2.3", "hub.0x10", "hub.123", "256.0.0.1"] {
            let text = format!("HostName={host};SharedAccessKeyName=p;SharedAccessKey={KEY}");
            let error = parse(&text).unwrap_err();
            assert!(
                matches!(error, ConnectionStringError::InvalidHostName(_)),
                "{host}: {error:?}"
            );
        }
        for host in ["10.1.2.3", "hub-1.azure-devices.net", "x1.y2"] {
            let text = format!("HostName={host};SharedAccessKeyName=p;SharedAccessKey={KEY}");
            assert_eq!(parse(&text).unwrap().host_name(), host);
        }
    }

    #[test]
    fn a_mangled_string_does_not_leak_the_key_through_the_host_name() {
        // Commas for semicolons put everything, key included, into HostName.
        let text = "HostName=hub.azure-devices.net,SharedAccessKeyName=p,SharedAccessKey=c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let error = parse(text).unwrap_err();
        assert!(
            matches!(error, ConnectionStringError::InvalidHostName(_)),
            "{error:?}"
        );
        assert!(error.to_string().contains("',' at byte 21"), "{error}");
        assert!(
            !format!("{error} {error:?}").contains("c2VjcmV0"),
            "{error:?}"
        );
    }

    #[test]
    fn never_echoes_the_key_or_signature() {
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        for text in [
            format!("HostName=h;SharedAccessKeyName=p;{secret}"),
            format!("HostName=h;SharedAccessKeyName=p;SharedAccessKey={secret}x*"),
            format!(
                "HostName=h;SharedAccessKeyName=p;SharedAccessKey={secret};SharedAccessSignature={secret}"
            ),
            format!("HostName=h;SharedAccessSignature={secret}"),
        ] {
            let error = parse(&text).unwrap_err();
            assert_hidden(&format!("{error} {error:?}"), secret);
        }
        let parsed = parse(&format!(
            "HostName=h;SharedAccessKeyName=p;SharedAccessKey={secret}"
        ))
        .unwrap();
        assert_hidden(&format!("{parsed:?}"), secret);
    }
}
