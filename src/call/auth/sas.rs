//! Shared access signatures: minting, caching and the ready-made form.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Authorization, AuthorizationFuture, Credential};
use crate::{Error, ErrorKind, call::util, call::validate::HostName};

/// A cached token is replaced once less than this share of its lifetime is left…
const RENEW_FRACTION: u64 = 5;
/// …or this much time, whichever is shorter, so a token is never sent about to expire.
const MAX_RENEW_MARGIN: Duration = Duration::from_secs(5 * 60);

/// `encodeURIComponent`'s set: what the service and the official SDKs escape in `sr`, `sig`, `skn`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A shared access policy's name and key, from which `SharedAccessSignature` tokens are minted.
///
/// A token is minted on first use, cached, and renewed shortly before it expires (when less than
/// a fifth of its lifetime, at most five minutes, is left), so a busy client signs about once
/// an hour rather than once a request.
pub struct SasKeyCredential {
    /// `sr`: the URL-encoded hub host name.
    resource: String,
    key_name: String,
    key: Vec<u8>,
    lifetime: Duration,
    cache: RwLock<Option<CachedToken>>,
    clock: Clock,
}

struct CachedToken {
    value: Authorization,
    renew_at: u64,
}

impl SasKeyCredential {
    /// How long a minted token is valid unless configured otherwise.
    pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

    /// A credential for `host_name` (the hub's host name, such as `myhub.azure-devices.net`,
    /// which the token is scoped to) from a policy's name and its base64 key.
    pub fn new(host_name: &str, key_name: &str, key_base64: &str) -> Result<Self, Error> {
        let host_name = HostName::checked(host_name)?;
        let key = base64::engine::general_purpose::STANDARD.decode(key_base64.trim()).map_err(|_| {
            Error::new(
                ErrorKind::InvalidConfiguration,
                "the shared access key is not valid base64; copy it again from the hub's shared access policy",
            )
        })?;
        Self::from_key_bytes(&host_name, key_name, key)
    }

    pub(crate) fn from_key_bytes(
        host_name: &HostName,
        key_name: &str,
        key: Vec<u8>,
    ) -> Result<Self, Error> {
        if key_name.trim().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfiguration,
                "the shared access key name is empty",
            ));
        }
        if key.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfiguration,
                "the shared access key is empty",
            ));
        }
        Ok(Self {
            resource: encode(host_name.as_str()),
            key_name: key_name.trim().to_owned(),
            key,
            lifetime: Self::DEFAULT_TOKEN_LIFETIME,
            cache: RwLock::new(None),
            clock: Arc::new(SystemTime::now),
        })
    }

    /// Sets how long each minted token is valid (default [`Self::DEFAULT_TOKEN_LIFETIME`]).
    /// At least one second.
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Result<Self, Error> {
        if lifetime < Duration::from_secs(1) {
            return Err(Error::new(
                ErrorKind::InvalidConfiguration,
                format!("the SAS token lifetime must be at least one second, not {lifetime:?}"),
            ));
        }
        self.lifetime = lifetime;
        self.cache = RwLock::new(None);
        Ok(self)
    }

    #[cfg(test)]
    fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The cached token, or a freshly minted one when it is due for renewal.
    fn current(&self) -> Result<Authorization, Error> {
        let now = unix_seconds((self.clock)());
        if let Some(token) = util::read(&self.cache).as_ref()
            && now < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let mut cache = util::write(&self.cache);
        // Another caller may have renewed it while this one waited for the lock.
        if let Some(token) = cache.as_ref()
            && now < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let lifetime = self.lifetime.as_secs().max(1);
        let margin = lifetime
            .div_ceil(RENEW_FRACTION)
            .min(MAX_RENEW_MARGIN.as_secs());
        let expiry = now.saturating_add(lifetime);
        let value = Authorization::new(&sas_token(
            &self.resource,
            &self.key,
            &self.key_name,
            expiry,
        ))?;
        *cache = Some(CachedToken {
            value: value.clone(),
            renew_at: expiry - margin,
        });
        tracing::debug!(expiry, key_name = %self.key_name, "minted a SAS token");
        Ok(value)
    }
}

impl Credential for SasKeyCredential {
    fn authorization(&self) -> AuthorizationFuture<'_> {
        AuthorizationFuture::ready(self.current())
    }

    fn invalidate(&self) -> bool {
        *util::write(&self.cache) = None;
        true
    }
}

impl fmt::Debug for SasKeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasKeyCredential")
            .field("resource", &self.resource)
            .field("key_name", &self.key_name)
            .field("key", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// A ready-made `SharedAccessSignature sr=…&sig=…&se=…&skn=…` token, sent as given. It is not
/// renewed: when it expires, calls fail with `401`.
#[derive(Clone)]
pub struct SasTokenCredential(Authorization);

impl SasTokenCredential {
    /// Wraps a token; it must start with `SharedAccessSignature `.
    pub fn new(token: &str) -> Result<Self, Error> {
        let token = token.trim();
        if !token.starts_with("SharedAccessSignature ") {
            return Err(Error::new(
                ErrorKind::InvalidConfiguration,
                "a SAS token must start with 'SharedAccessSignature sr='",
            ));
        }
        Ok(Self(Authorization::new(token)?))
    }
}

impl Credential for SasTokenCredential {
    fn authorization(&self) -> AuthorizationFuture<'_> {
        AuthorizationFuture::ready(Ok(self.0.clone()))
    }
}

impl fmt::Debug for SasTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SasTokenCredential(<redacted>)")
    }
}

/// `SharedAccessSignature sr=<sr>&sig=<url-encoded base64(HMAC-SHA256(key, "<sr>\n<se>"))>&se=<se>&skn=<policy>`,
/// where `resource` is already URL-encoded.
fn sas_token(resource: &str, key: &[u8], key_name: &str, expiry: u64) -> String {
    let signature = sign(key, format!("{resource}\n{expiry}").as_bytes());
    format!(
        "SharedAccessSignature sr={resource}&sig={}&se={expiry}&skn={}",
        encode(&signature),
        encode(key_name)
    )
}

/// base64(HMAC-SHA256(key, message)).
fn sign(key: &[u8], message: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message);
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::call::secret_forms::assert_hidden;

    fn decode(key: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap()
    }

    #[test]
    fn hmac_vectors_from_the_official_sdks() {
        assert_eq!(
            sign(&decode("cGFzc3dvcmQ="), b"string-to-sign"),
            "o1n1hiIVgzVA2+krq9ty1Z4xsIJKJZP3dYT8MOi65Y4="
        );
        assert_eq!(
            sign(
                &decode("NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg="),
                b"sign this message"
            ),
            "8NJRMT83CcplGrAGaUVIUM/md5914KpWVNngSVoF9/M="
        );
    }

    #[test]
    fn token_vector_from_the_official_sdks() {
        let token = sas_token("uri", &decode("cGFzc3dvcmQ="), "keyName", 12345);
        assert_eq!(
            token,
            "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345&skn=keyName"
        );
    }

    /// A clock the test moves by hand.
    fn manual_clock(start: u64) -> (Arc<Mutex<u64>>, Clock) {
        let now = Arc::new(Mutex::new(start));
        let read = now.clone();
        (
            now,
            Arc::new(move || UNIX_EPOCH + Duration::from_secs(*read.lock().unwrap())),
        )
    }

    fn token_of(credential: &SasKeyCredential) -> String {
        credential
            .current()
            .unwrap()
            .header_value()
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn caches_the_token_and_renews_it_ahead_of_expiry() {
        let (now, clock) = manual_clock(1_000_000);
        let credential =
            SasKeyCredential::new("hub.azure-devices.net", "iothubowner", "cGFzc3dvcmQ=")
                .unwrap()
                .with_clock(clock);
        let first = token_of(&credential);
        assert!(first.starts_with("SharedAccessSignature sr=hub.azure-devices.net&sig="));
        assert!(first.contains("&se=1003600&skn=iothubowner"), "{first}");
        // Reused until five minutes before expiry.
        *now.lock().unwrap() += 3600 - 301;
        assert_eq!(token_of(&credential), first);
        *now.lock().unwrap() += 1;
        let second = token_of(&credential);
        assert_ne!(second, first);
        assert!(
            second.contains(&format!("&se={}", 1_000_000 + 3300 + 3600)),
            "{second}"
        );
    }

    #[test]
    fn invalidating_mints_a_fresh_token_at_once() {
        let (now, clock) = manual_clock(1_000_000);
        let credential = SasKeyCredential::new("h", "p", "cGFzc3dvcmQ=")
            .unwrap()
            .with_clock(clock);
        let first = token_of(&credential);
        *now.lock().unwrap() += 1;
        assert_eq!(token_of(&credential), first, "still cached a second later");
        assert!(credential.invalidate(), "a key can always mint another");
        let fresh = token_of(&credential);
        assert_ne!(fresh, first, "the rejected token is not sent again");
        assert!(
            fresh.contains(&format!("&se={}", 1_000_001 + 3600)),
            "{fresh}"
        );
    }

    #[test]
    fn short_lifetimes_renew_after_four_fifths() {
        let (now, clock) = manual_clock(50);
        let credential = SasKeyCredential::new("h", "p", "cGFzc3dvcmQ=")
            .unwrap()
            .with_token_lifetime(Duration::from_secs(10))
            .unwrap()
            .with_clock(clock);
        let first = token_of(&credential);
        *now.lock().unwrap() = 57;
        assert_eq!(token_of(&credential), first);
        *now.lock().unwrap() = 58;
        assert_ne!(token_of(&credential), first);
        let with_lifetime = |lifetime| {
            SasKeyCredential::new("h", "p", "cGFzc3dvcmQ=")
                .unwrap()
                .with_token_lifetime(lifetime)
        };
        assert!(
            with_lifetime(Duration::from_secs(1)).is_ok(),
            "one second is enough"
        );
        for too_short in [Duration::ZERO, Duration::from_millis(999)] {
            let error = with_lifetime(too_short).unwrap_err();
            assert!(error.to_string().contains("at least one second"), "{error}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        // "secret-key-material", in base64.
        const KEY: &str = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let credential = SasKeyCredential::new("h", "p", KEY).unwrap();
        let token = credential.current().unwrap();
        let header = token.header_value().to_str().unwrap().to_owned();
        let signature = header
            .split("sig=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let shown = format!("{credential:?} {token:?}");
        assert_hidden(&shown, KEY);
        assert_hidden(&shown, signature);
        assert_hidden(&shown, "SharedAccessSignature");
        let error = SasKeyCredential::new("h", "p", &format!("{KEY}*")).unwrap_err();
        assert_hidden(&format!("{error} {error:?}"), KEY);
        let given =
            SasTokenCredential::new(&format!("SharedAccessSignature sr=h&sig={KEY}&se=1&skn=p"))
                .unwrap();
        assert_hidden(&format!("{given:?}"), KEY);
        assert!(SasTokenCredential::new("Bearer x").is_err());
        assert_eq!(format!("{given:?}"), "SasTokenCredential(<redacted>)");
        assert_eq!(
            format!("{credential:?}"),
            r#"SasKeyCredential { resource: "h", key_name: "p", key: "<redacted>", lifetime: 3600s }"#
        );
    }
}
