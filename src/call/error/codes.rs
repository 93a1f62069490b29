//! IoT Hub's numeric error codes and their names: the one table the error reader consults
//! when a body gives only the number (`{"errorCode":404001,…}`).
//!
//! From Microsoft's published lists: the `ErrorCode` enum of the official C# service SDK
//! (`Microsoft.Azure.Devices.Common.Exceptions`) and "Troubleshoot Azure IoT Hub error codes"
//! in the IoT Hub documentation. Where they disagree the documentation wins: a newer C# SDK
//! lists `403001` as `JobQuotaExceeded`, the documentation and the older SDK as
//! `IotHubSuspended` (and `JobQuotaExceeded` as `403003`). Only codes a service-side client can
//! meet are listed; an unlisted number keeps no name.

/// `(number, name)`, sorted by number.
const CODES: &[(u32, &str)] = &[
    (400000, "GenericBadRequest"),
    (400001, "InvalidProtocolVersion"),
    (400002, "DeviceInvalidResultCount"),
    (400003, "InvalidOperation"),
    (400004, "ArgumentInvalid"),
    (400005, "ArgumentNull"),
    (400006, "IotHubFormatError"),
    (400007, "DeviceStorageEntitySerializationError"),
    (400008, "BlobContainerValidationError"),
    (400009, "ImportWarningExistsError"),
    (400010, "InvalidSchemaVersion"),
    (400011, "DeviceDefinedMultipleTimes"),
    (400012, "DeserializationError"),
    (400013, "BulkRegistryOperationFailure"),
    (400014, "DefaultStorageEndpointNotConfigured"),
    (400017, "InvalidStorageEndpoint"),
    (400021, "RequestCanceled"),
    (400022, "InvalidStorageEndpointProperty"),
    (400023, "EtagDoesNotMatch"),
    (400024, "RequestTimedOut"),
    (400031, "InvalidEndpointAuthenticationType"),
    (400032, "ManagedIdentityNotEnabled"),
    (401000, "GenericUnauthorized"),
    (401001, "IotHubNotFound"),
    (401002, "IotHubUnauthorizedAccess"),
    (401003, "IotHubUnauthorized"),
    (403000, "GenericForbidden"),
    (403001, "IotHubSuspended"),
    (403002, "IotHubQuotaExceeded"),
    (403003, "JobQuotaExceeded"),
    (403010, "OperationNotAvailableInCurrentTier"),
    (403012, "DeviceDisabled"),
    (404000, "GenericNotFound"),
    (404001, "DeviceNotFound"),
    (404002, "JobNotFound"),
    (404010, "ModuleNotFound"),
    (404012, "IotHubFailingOver"),
    (404013, "FeatureNotSupported"),
    (404103, "DeviceNotOnline"),
    (404104, "DeviceConnectionClosedRemotely"),
    (405000, "GenericMethodNotAllowed"),
    (405102, "OperationNotAllowedInCurrentState"),
    (405103, "ImportDevicesNotSupported"),
    (409000, "GenericConflict"),
    (409001, "DeviceAlreadyExists"),
    (409103, "DeviceJobAlreadyExists"),
    (409104, "JobAlreadyExists"),
    (412000, "GenericPreconditionFailed"),
    (412001, "PreconditionFailed"),
    (412003, "JobRunPreconditionFailed"),
    (413000, "GenericRequestEntityTooLarge"),
    (413001, "MessageTooLarge"),
    (413002, "TooManyDevices"),
    (415000, "GenericUnsupportedMediaType"),
    (429000, "GenericTooManyRequests"),
    (429001, "ThrottlingException"),
    (429002, "ThrottleBacklogLimitExceeded"),
    (429003, "ThrottlingBacklogTimeout"),
    (429004, "ThrottlingMaxActiveJobCountExceeded"),
    (429005, "DeviceThrottlingLimitExceeded"),
    (499000, "ClientClosedRequest"),
    (500001, "ServerError"),
    (500002, "JobCancelled"),
    (500008, "GenericTimeout"),
    (502000, "GenericBadGateway"),
    (503000, "GenericServiceUnavailable"),
    (503001, "ServiceUnavailable"),
    (503005, "ServerBusy"),
    (504000, "GenericGatewayTimeout"),
    (504101, "GatewayTimeout"),
];

/// The name of a numeric IoT Hub error code, if the table lists it.
pub(super) fn name_of(number: u32) -> Option<&'static str> {
    CODES
        .binary_search_by_key(&number, |(n, _)| *n)
        .ok()
        .map(|index| CODES[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_duplicates_and_each_number_is_in_its_status_range() {
        assert!(CODES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (number, name) in CODES {
            let status = number / 1000;
            assert!((400..600).contains(&status), "{number} {name}");
        }
    }

    #[test]
    fn finds_names_by_number() {
        assert_eq!(name_of(404001), Some("DeviceNotFound"));
        assert_eq!(name_of(404002), Some("JobNotFound"));
        assert_eq!(name_of(400000), Some("GenericBadRequest"));
        assert_eq!(name_of(504000), Some("GenericGatewayTimeout"));
        assert_eq!(name_of(404999), None);
        assert_eq!(name_of(0), None);
    }
}
