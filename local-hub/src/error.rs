//! The hub's one error: a setting or a device it was given that it cannot take, said in words.

use std::fmt;

/// What the hub could not take: a policy key that is not base64, a device id outside IoT Hub's
/// rule, a twin that breaks the API description's twin rules. The message names the setting
/// or the device and the rule; it never repeats a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
