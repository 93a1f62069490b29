//! The service's data model.
//!
//! The structs are generated from the schemas in `spec/` (their names are the schema names, which
//! have stayed stable across api-versions); the enums and [`Timestamp`] are hand-written stand-ins
//! that the generator uses in their place so that responses from a newer service still parse.
//! Every struct is `#[non_exhaustive]`: start from `Default::default()` and set fields, so that a
//! field added by a later api-version is not a breaking change.
//!
//! # How answers are read
//! One value the model cannot read must not lose the answer around it, so:
//! - an enum value this crate does not know is kept as `UnknownValue(text)`;
//! - a date-time in another format (or not one at all) is kept as a [`Timestamp`] whose
//!   [`unreadable`](Timestamp::unreadable) text is what the service sent;
//! - a container URI is kept whatever it holds; twin tags and properties are free-form JSON;
//! - `null` for an optional field reads as absent, and fields this crate does not know are
//!   ignored;
//! - in listings, an item of another shape arrives as the listing's `Unrecognized` item.
//!
//! What still fails an answer, as [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse),
//! is a value of another JSON type than the API describes (text where it describes a number,
//! an object where it describes text): no service has sent one, and guessing a meaning would
//! hide a broken proxy or gateway.

// Public as `models::*`; `pub(crate)` so that the generated code can name them by this path.
pub(crate) mod stand_ins;

pub use crate::generated::types::{
    CloudToDeviceMethod, DeviceCapabilities, DeviceJob, DeviceJobError, DeviceJobOutcome,
    DeviceJobStatistics, DeviceMethodResponse, JobProperties, JobResponse, ManagedIdentity, Twin,
    TwinProperties, X509Thumbprint,
};
pub use stand_ins::*;
