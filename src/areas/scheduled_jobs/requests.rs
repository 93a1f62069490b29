//! Typed requests for new jobs, checked before anything is sent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    Condition, Error,
    call::util,
    call::validate,
    generated::types::{CloudToDeviceMethod, JobRequest, Twin, TwinProperties},
    models::{JobResponse, JobType, Timestamp},
};

/// The setters every kind of new job has.
macro_rules! schedule_setters {
    () => {
        /// When the job starts (default: now). It must be within years 0000–9999, which the
        /// service can read.
        pub fn with_start_time(mut self, start_time: DateTime<Utc>) -> Self {
            self.start_time = Some(start_time);
            self
        }

        /// How long the job may run before the service stops it.
        pub fn with_max_execution_time(mut self, limit: Duration) -> Self {
            self.max_execution_time = Some(limit);
            self
        }
    };
}

/// A job that updates device twins — tags and desired properties — on every device a query
/// selects, at a time you choose. Sent with etag `*`, as the service requires for scheduled
/// twin updates.
///
/// ```
/// use iothub_jobs::TwinUpdateJob;
/// use serde_json::json;
///
/// let job = TwinUpdateJob::new("firmware-2-4-rollout", "tags.environment = 'prod'")
///     .with_desired_properties(json!({"firmware": {"version": "2.4.1"}}).as_object().unwrap().clone())
///     .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1))
///     .with_max_execution_time(std::time::Duration::from_secs(3600));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TwinUpdateJob {
    job_id: String,
    query_condition: Condition,
    tags: Map<String, Value>,
    desired: Map<String, Value>,
    start_time: Option<DateTime<Utc>>,
    max_execution_time: Option<Duration>,
}

impl TwinUpdateJob {
    /// The longest name of a tag or desired property, at any depth, in bytes of UTF-8 (the
    /// API description's `Twin.tags` and `TwinProperties.desired`: "up to 1KB").
    pub const MAX_NAME_BYTES: usize = 1024;
    /// The largest value of one tag or desired property, serialized ("up to 4KB").
    pub const MAX_VALUE_BYTES: usize = 4096;
    /// How deeply objects may nest under `tags` or `desired` ("the maximum depth of the object
    /// is 10": `{"one": {… {"ten": {"property": 1}}}}` is as deep as it goes).
    pub const MAX_DEPTH: usize = 10;

    /// A twin update `job_id` for the devices `query_condition` selects: a [`Condition`], or an
    /// IoT Hub query `WHERE` clause such as `deviceId IN ['a', 'b']` or `tags.site = 'berlin'`,
    /// checked as [`Condition::parse`] checks it when the job is scheduled.
    pub fn new(job_id: impl Into<String>, query_condition: impl Into<Condition>) -> Self {
        Self {
            job_id: job_id.into(),
            query_condition: query_condition.into(),
            tags: Map::new(),
            desired: Map::new(),
            start_time: None,
            max_execution_time: None,
        }
    }

    /// Tags to set (merged into each twin's tags). Names and values follow the service's twin
    /// rules, checked when the job is scheduled: names of 1 to [`Self::MAX_NAME_BYTES`] bytes
    /// without control characters, `.`, `$` or a space; each value at most
    /// [`Self::MAX_VALUE_BYTES`] serialized; objects nested at most [`Self::MAX_DEPTH`] deep.
    pub fn with_tags(mut self, tags: Map<String, Value>) -> Self {
        self.tags = tags;
        self
    }

    /// Desired properties to set (merged into each twin's desired properties), under the same
    /// rules as [`with_tags`](Self::with_tags).
    pub fn with_desired_properties(mut self, desired: Map<String, Value>) -> Self {
        self.desired = desired;
        self
    }

    schedule_setters!();

    pub(crate) fn into_request(self) -> Result<JobRequest, Error> {
        validate::job_id(&self.job_id)?;
        if self.tags.is_empty() && self.desired.is_empty() {
            return Err(validate::invalid_request(
                "a twin update job needs tags or desired properties to set",
            ));
        }
        twin_section_follows_the_rules("tags", &self.tags)?;
        twin_section_follows_the_rules("desired properties", &self.desired)?;
        let twin = Twin {
            // The service accepts scheduled twin updates only with etag `*`.
            etag: Some("*".to_owned()),
            tags: (!self.tags.is_empty()).then_some(self.tags),
            properties: (!self.desired.is_empty()).then(|| TwinProperties {
                desired: Some(self.desired),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = checked_request(
            self.job_id,
            self.query_condition,
            self.start_time,
            self.max_execution_time,
            JobType::ScheduleUpdateTwin,
        )?;
        Ok(JobRequest {
            update_twin: Some(twin),
            ..request
        })
    }
}

/// A job that invokes a direct method on every device a query selects, at a time you choose.
///
/// ```
/// use iothub_jobs::DirectMethodJob;
/// use std::time::Duration;
///
/// let job = DirectMethodJob::new("nightly-reboot", "tags.site = 'berlin'", "reboot")
///     .with_payload(serde_json::json!({"delaySeconds": 30}))
///     .with_response_timeout(Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DirectMethodJob {
    job_id: String,
    query_condition: Condition,
    method_name: String,
    payload: Option<Value>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    start_time: Option<DateTime<Utc>>,
    max_execution_time: Option<Duration>,
}

impl DirectMethodJob {
    /// The largest method payload the service accepts, serialized.
    pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

    /// A direct-method job `job_id` calling `method_name` on the devices `query_condition`
    /// selects (a [`Condition`] or its text, as for [`TwinUpdateJob::new`]).
    pub fn new(
        job_id: impl Into<String>,
        query_condition: impl Into<Condition>,
        method_name: impl Into<String>,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            query_condition: query_condition.into(),
            method_name: method_name.into(),
            payload: None,
            connect_timeout: None,
            response_timeout: None,
            start_time: None,
            max_execution_time: None,
        }
    }

    /// The JSON payload passed to the method; at most [`Self::MAX_PAYLOAD_BYTES`] serialized.
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// How long to wait for each device to connect, in whole seconds.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long to wait for each device's answer, in whole seconds.
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    schedule_setters!();

    pub(crate) fn into_request(self) -> Result<JobRequest, Error> {
        validate::job_id(&self.job_id)?;
        if self.method_name.trim().is_empty() {
            return Err(validate::invalid_request(
                "a direct-method job needs a method name",
            ));
        }
        let payload = match self.payload {
            None => None,
            Some(payload) => {
                let size = serialized_len(&payload);
                if size > Self::MAX_PAYLOAD_BYTES {
                    return Err(validate::invalid_request(format!(
                        "the method payload is {size} bytes; the service takes at most {}",
                        Self::MAX_PAYLOAD_BYTES
                    )));
                }
                match payload {
                    Value::Object(object) => Some(object),
                    Value::Null => None,
                    _ => {
                        return Err(validate::invalid_request(
                            "the method payload must be a JSON object, as the API describes it",
                        ));
                    }
                }
            }
        };
        let method = CloudToDeviceMethod {
            method_name: Some(self.method_name),
            payload,
            connect_timeout_in_seconds: self
                .connect_timeout
                .map(|t| seconds_i32("connect timeout", t))
                .transpose()?,
            response_timeout_in_seconds: self
                .response_timeout
                .map(|t| seconds_i32("response timeout", t))
                .transpose()?,
        };
        let request = checked_request(
            self.job_id,
            self.query_condition,
            self.start_time,
            self.max_execution_time,
            JobType::ScheduleDeviceMethod,
        )?;
        Ok(JobRequest {
            cloud_to_device_method: Some(method),
            ..request
        })
    }
}

/// Either kind of scheduled job, for what schedules the same operation on other devices: a
/// rollout's waves, a re-run of the devices that failed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NewJob {
    TwinUpdate(TwinUpdateJob),
    DirectMethod(DirectMethodJob),
}

impl NewJob {
    pub(crate) fn job_id(&self) -> &str {
        match self {
            Self::TwinUpdate(job) => &job.job_id,
            Self::DirectMethod(job) => &job.job_id,
        }
    }

    pub(crate) fn condition(&self) -> &Condition {
        match self {
            Self::TwinUpdate(job) => &job.query_condition,
            Self::DirectMethod(job) => &job.query_condition,
        }
    }

    /// The desired properties a twin update sets (none, for one of tags alone); `None` for a
    /// direct method.
    pub(crate) fn desired(&self) -> Option<&Map<String, Value>> {
        match self {
            Self::TwinUpdate(job) => Some(&job.desired),
            Self::DirectMethod(_) => None,
        }
    }

    /// The same operation as job `job_id` on the devices `condition` selects, starting when
    /// it is scheduled.
    pub(crate) fn retargeted(&self, job_id: String, condition: Condition) -> Self {
        match self {
            Self::TwinUpdate(job) => Self::TwinUpdate(TwinUpdateJob {
                job_id,
                query_condition: condition,
                start_time: None,
                ..job.clone()
            }),
            Self::DirectMethod(job) => Self::DirectMethod(DirectMethodJob {
                job_id,
                query_condition: condition,
                start_time: None,
                ..job.clone()
            }),
        }
    }

    /// The operation `job` ran, as the service reports it: its twin patch (tags and desired
    /// properties), or its method with payload and timeouts; and its max execution time. Its
    /// id and condition are the job's until [`retargeted`](Self::retargeted).
    pub(crate) fn of(job: &JobResponse) -> Result<Self, Error> {
        let job_id = job.job_id.clone().unwrap_or_default();
        let condition = Condition::from(job.query_condition.clone().unwrap_or_default());
        let max_execution_time = whole_seconds(job.max_execution_time_in_seconds);
        match (&job.type_, &job.update_twin, &job.cloud_to_device_method) {
            (Some(JobType::ScheduleUpdateTwin), Some(twin), _) => {
                Ok(Self::TwinUpdate(TwinUpdateJob {
                    job_id,
                    query_condition: condition,
                    tags: twin.tags.clone().unwrap_or_default(),
                    desired: twin
                        .properties
                        .as_ref()
                        .and_then(|properties| properties.desired.clone())
                        .unwrap_or_default(),
                    start_time: None,
                    max_execution_time,
                }))
            }
            (Some(JobType::ScheduleDeviceMethod), _, Some(method)) => {
                Ok(Self::DirectMethod(DirectMethodJob {
                    job_id,
                    query_condition: condition,
                    method_name: method.method_name.clone().unwrap_or_default(),
                    payload: method.payload.clone().map(Value::Object),
                    connect_timeout: whole_seconds(method.connect_timeout_in_seconds),
                    response_timeout: whole_seconds(method.response_timeout_in_seconds),
                    start_time: None,
                    max_execution_time,
                }))
            }
            (kind, _, _) => Err(validate::invalid_request(format!(
                "job {job_id:?} cannot be scheduled again: the service reports its type as {} \
                 and no {}",
                kind.as_ref().map_or("none", |kind| kind.as_str()),
                match kind {
                    Some(JobType::ScheduleDeviceMethod) => "method",
                    Some(JobType::ScheduleUpdateTwin) => "twin patch",
                    _ => "twin patch or method to run",
                }
            ))),
        }
    }

    pub(crate) fn into_request(self) -> Result<JobRequest, Error> {
        match self {
            Self::TwinUpdate(job) => job.into_request(),
            Self::DirectMethod(job) => job.into_request(),
        }
    }

    /// What `found`, the job the service holds under this job's id, does otherwise than this
    /// job would: the names (the service's own) of the fields that differ, none when it is the
    /// same work — the same type, condition, twin patch or method with payload and timeouts.
    /// When and how long it runs (start and max execution time) are not the work.
    pub(crate) fn differences(&self, found: &JobResponse) -> Result<Vec<&'static str>, Error> {
        let asked = self.clone().into_request()?;
        let mut differ = Vec::new();
        let mut compare = |field, same: bool| {
            if !same {
                differ.push(field);
            }
        };
        compare(
            "queryCondition",
            asked.query_condition == found.query_condition,
        );
        if asked.type_ != found.type_ {
            // Every field of the operation differs with it: the type says it all.
            differ.insert(0, "type");
            return Ok(differ);
        }
        let (asked_twin, found_twin) = (asked.update_twin.as_ref(), found.update_twin.as_ref());
        compare("updateTwin.tags", tags(asked_twin) == tags(found_twin));
        compare(
            "updateTwin.properties.desired",
            desired(asked_twin) == desired(found_twin),
        );
        let (asked_method, found_method) = (
            asked.cloud_to_device_method.as_ref(),
            found.cloud_to_device_method.as_ref(),
        );
        compare(
            "cloudToDeviceMethod.methodName",
            asked_method.and_then(|m| m.method_name.as_ref())
                == found_method.and_then(|m| m.method_name.as_ref()),
        );
        compare(
            "cloudToDeviceMethod.payload",
            asked_method.and_then(|m| m.payload.as_ref())
                == found_method.and_then(|m| m.payload.as_ref()),
        );
        compare(
            "cloudToDeviceMethod.connectTimeoutInSeconds",
            connect_timeout(asked_method) == connect_timeout(found_method),
        );
        compare(
            "cloudToDeviceMethod.responseTimeoutInSeconds",
            response_timeout(asked_method) == response_timeout(found_method),
        );
        Ok(differ)
    }
}

/// A twin patch's tags; none and an empty set are the same patch.
fn tags(twin: Option<&Twin>) -> Option<&Map<String, Value>> {
    twin.and_then(|twin| twin.tags.as_ref())
        .filter(|tags| !tags.is_empty())
}

/// A twin patch's desired properties; none and an empty set are the same patch.
fn desired(twin: Option<&Twin>) -> Option<&Map<String, Value>> {
    twin.and_then(|twin| twin.properties.as_ref())
        .and_then(|properties| properties.desired.as_ref())
        .filter(|desired| !desired.is_empty())
}

/// The service's own connect timeout for a job that gives none: 0 s, do not wait for a device
/// to connect (Microsoft's "Schedule jobs on multiple devices").
const SERVICE_CONNECT_TIMEOUT_SECONDS: i32 = 0;
/// The service's own response timeout for a job that gives none: 30 s (the same page).
const SERVICE_RESPONSE_TIMEOUT_SECONDS: i32 = 30;

/// The connect timeout a method job runs with, the service's own when it gives none.
fn connect_timeout(method: Option<&CloudToDeviceMethod>) -> Option<i32> {
    method.map(|method| {
        method
            .connect_timeout_in_seconds
            .unwrap_or(SERVICE_CONNECT_TIMEOUT_SECONDS)
    })
}

/// The response timeout a method job runs with, the service's own when it gives none.
fn response_timeout(method: Option<&CloudToDeviceMethod>) -> Option<i32> {
    method.map(|method| {
        method
            .response_timeout_in_seconds
            .unwrap_or(SERVICE_RESPONSE_TIMEOUT_SECONDS)
    })
}

/// Refuses a twin patch's `section` (its tags or desired properties) where it breaks the
/// service's twin rules, naming the property and the rule: the service would refuse it, or
/// store a name no query can select.
fn twin_section_follows_the_rules(
    section: &str,
    properties: &Map<String, Value>,
) -> Result<(), Error> {
    let broken = |path: &[&str], rule: String| {
        let shown: Vec<String> = path
            .iter()
            .map(|name| format!("{:?}", util::bounded(name, 40)))
            .collect();
        Err(validate::invalid_request(format!(
            "the {section} cannot be set: {} {rule}",
            shown.join(" > ")
        )))
    };
    for (name, value) in properties {
        let size = serialized_len(value);
        if size > TwinUpdateJob::MAX_VALUE_BYTES {
            return broken(
                &[name],
                format!(
                    "is {size} bytes serialized; a value may be at most {} (TwinUpdateJob::MAX_VALUE_BYTES)",
                    TwinUpdateJob::MAX_VALUE_BYTES
                ),
            );
        }
    }
    // Depth first over every name, with the path to it; objects in arrays nest too.
    let mut pending: Vec<(Vec<&str>, &Map<String, Value>)> = vec![(Vec::new(), properties)];
    while let Some((path, object)) = pending.pop() {
        for (name, value) in object {
            let mut here = path.clone();
            here.push(name);
            if let Some(rule) = name_rule_broken(name) {
                return broken(&here, rule);
            }
            let mut nested: Vec<&Value> = vec![value];
            while let Some(value) = nested.pop() {
                match value {
                    Value::Object(_) if here.len() > TwinUpdateJob::MAX_DEPTH => {
                        return broken(
                            &here,
                            format!(
                                "holds an object {} levels deep; objects nest at most {} (TwinUpdateJob::MAX_DEPTH)",
                                here.len(),
                                TwinUpdateJob::MAX_DEPTH
                            ),
                        );
                    }
                    Value::Object(inner) => pending.push((here.clone(), inner)),
                    Value::Array(items) => nested.extend(items),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Which twin-name rule `name` breaks, if any.
fn name_rule_broken(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is an empty name".to_owned());
    }
    if name.len() > TwinUpdateJob::MAX_NAME_BYTES {
        return Some(format!(
            "is a name of {} bytes; names are at most {} (TwinUpdateJob::MAX_NAME_BYTES)",
            name.len(),
            TwinUpdateJob::MAX_NAME_BYTES
        ));
    }
    let refused = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '.' | '$' | ' '))?;
    Some(format!(
        "is a name holding {refused:?}; twin property names may not hold control characters, '.', '$' or a space"
    ))
}

/// How many bytes `value` takes as JSON, which is what the service's size limits count.
fn serialized_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// The fields every new job has, checked.
fn checked_request(
    job_id: String,
    query_condition: Condition,
    start_time: Option<DateTime<Utc>>,
    max_execution_time: Option<Duration>,
    job_type: JobType,
) -> Result<JobRequest, Error> {
    let query_condition = query_condition.text()?.to_owned();
    let max_execution_time_in_seconds = max_execution_time
        .map(|limit| {
            i64::try_from(limit.as_secs())
                .ok()
                .filter(|seconds| *seconds > 0)
                .ok_or_else(|| {
                    validate::invalid_request("the max execution time must be at least one second")
                })
        })
        .transpose()?;
    Ok(JobRequest {
        type_: Some(job_type),
        job_id: Some(job_id),
        query_condition: Some(query_condition),
        start_time: Some(
            Timestamp::try_from(start_time.unwrap_or_else(Utc::now))
                .map_err(|e| validate::invalid_request(format!("the start time {e}")))?,
        ),
        max_execution_time_in_seconds,
        ..Default::default()
    })
}

/// A count of seconds the service reports, as a duration; none for a negative one.
fn whole_seconds(seconds: Option<impl TryInto<u64>>) -> Option<Duration> {
    seconds
        .and_then(|seconds| seconds.try_into().ok())
        .map(Duration::from_secs)
}

fn seconds_i32(what: &str, duration: Duration) -> Result<i32, Error> {
    i32::try_from(duration.as_secs())
        .map_err(|_| validate::invalid_request(format!("the {what} is too long: {duration:?}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorKind;

    fn twin_job(tags: Value) -> Result<JobRequest, Error> {
        TwinUpdateJob::new("t", "*")
            .with_tags(tags.as_object().unwrap().clone())
            .into_request()
    }

    /// `{"l1": {"l2": … {"l<levels>": leaf}}}`.
    fn nested(levels: usize, leaf: Value) -> Value {
        (1..=levels)
            .rev()
            .fold(leaf, |inner, level| json!({ format!("l{level}"): inner }))
    }

    #[test]
    fn twin_patches_follow_the_services_twin_rules() {
        assert!(
            twin_job(nested(11, json!("value"))).is_ok(),
            "ten objects deep"
        );
        let deep = twin_job(nested(12, json!("value"))).unwrap_err();
        assert!(deep.to_string().contains("11 levels deep"), "{deep}");
        assert!(twin_job(json!({"a": [nested(10, json!(1))]})).is_ok());
        assert!(
            twin_job(json!({"a": [nested(11, json!(1))]})).is_err(),
            "arrays hold objects too"
        );
        let longest = "n".repeat(TwinUpdateJob::MAX_NAME_BYTES);
        assert!(twin_job(json!({ longest.clone(): 1 })).is_ok());
        for (name, named) in [
            ("a.b", "'.'"),
            ("$x", "'$'"),
            ("sp ace", "' '"),
            ("\u{1}", "'\\u{1}'"),
            ("\u{7f}", "'\\u{7f}'"),
            ("c1\u{85}", "'\\u{85}'"),
            ("", "an empty name"),
        ] {
            let error = twin_job(json!({"ok": {"fine": 1}, "outer": { name: 1 }})).unwrap_err();
            assert_eq!(*error.kind(), ErrorKind::InvalidJobRequest);
            assert!(error.to_string().contains(named), "{name:?}: {error}");
            assert!(error.to_string().contains("\"outer\" > "), "{error}");
        }
        let error = twin_job(json!({ format!("{longest}n"): 1 })).unwrap_err();
        assert!(error.to_string().contains("1025 bytes"), "{error}");
        assert!(
            error.to_string().len() < 400,
            "a long name is shown shortened: {error}"
        );
        // `{"v":"…"}` of `size` bytes: 6 of punctuation and name, the rest letters.
        let value = |size: usize| json!({"v": "a".repeat(size - 8)});
        assert!(twin_job(json!({ "big": value(TwinUpdateJob::MAX_VALUE_BYTES) })).is_ok());
        let error =
            twin_job(json!({ "big": value(TwinUpdateJob::MAX_VALUE_BYTES + 1) })).unwrap_err();
        assert!(error.to_string().contains("4097 bytes"), "{error}");
        let desired = TwinUpdateJob::new("t", "*")
            .with_desired_properties(json!({"a.b": 1}).as_object().unwrap().clone())
            .into_request()
            .unwrap_err();
        assert!(
            desired.to_string().contains("desired properties"),
            "{desired}"
        );
    }

    #[test]
    fn a_payload_of_exactly_the_limit_is_taken_and_one_byte_more_is_not() {
        let job = |size: usize| {
            // `{"a":"…"}` of `size` bytes serialized: 8 of punctuation and `size - 8` letters.
            DirectMethodJob::new("j", "deviceId IN ['d']", "reboot")
                .with_payload(serde_json::json!({ "a": "a".repeat(size - 8) }))
                .into_request()
        };
        let taken = job(DirectMethodJob::MAX_PAYLOAD_BYTES);
        assert!(taken.is_ok(), "{taken:?}");
        let refused = job(DirectMethodJob::MAX_PAYLOAD_BYTES + 1).unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::InvalidJobRequest);
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_twin_update_is_sent_with_etag_star_and_its_type() {
        let start = "2026-12-01T10:30:00.25+01:00".parse().unwrap();
        let request = TwinUpdateJob::new("j-1", "deviceId IN ['a']")
            .with_tags(object(json!({"site": "berlin"})))
            .with_desired_properties(object(json!({"fw": "2.4"})))
            .with_start_time(start)
            .with_max_execution_time(Duration::from_secs(600))
            .into_request()
            .unwrap();
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(sent["type"], "scheduleUpdateTwin");
        assert_eq!(sent["jobId"], "j-1");
        assert_eq!(sent["updateTwin"]["etag"], "*");
        assert_eq!(sent["updateTwin"]["tags"], json!({"site": "berlin"}));
        assert_eq!(
            sent["updateTwin"]["properties"],
            json!({"desired": {"fw": "2.4"}})
        );
        assert_eq!(sent["maxExecutionTimeInSeconds"], 600);
        assert_eq!(
            sent["startTime"], "2026-12-01T09:30:00.250Z",
            "RFC 3339, in UTC"
        );
    }

    #[test]
    fn a_direct_method_job_carries_its_method() {
        let request = DirectMethodJob::new("reboot-1", "tags.site = 'b'", "reboot")
            .with_payload(json!({"delay": 5}))
            .with_connect_timeout(Duration::from_secs(10))
            .with_response_timeout(Duration::from_secs(30))
            .into_request()
            .unwrap();
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(sent["type"], "scheduleDeviceMethod");
        assert_eq!(
            sent["cloudToDeviceMethod"],
            json!({"methodName": "reboot", "payload": {"delay": 5}, "connectTimeoutInSeconds": 10, "responseTimeoutInSeconds": 30})
        );
        assert!(sent.get("updateTwin").is_none());
    }

    #[test]
    fn bad_jobs_are_refused_with_the_field_named() {
        let big = json!({"blob": "x".repeat(DirectMethodJob::MAX_PAYLOAD_BYTES)});
        let cases: Vec<(Result<JobRequest, Error>, ErrorKind, &str)> = vec![
            (
                TwinUpdateJob::new("a/b", "q")
                    .with_tags(object(json!({"a": 1})))
                    .into_request(),
                ErrorKind::InvalidJobId,
                "'/'",
            ),
            (
                TwinUpdateJob::new("j", "q").into_request(),
                ErrorKind::InvalidJobRequest,
                "tags or desired",
            ),
            (
                TwinUpdateJob::new("j", " ")
                    .with_tags(object(json!({"a": 1})))
                    .into_request(),
                ErrorKind::InvalidCondition,
                "the condition is empty",
            ),
            (
                DirectMethodJob::new("j", "SELECT * FROM devices", "m").into_request(),
                ErrorKind::InvalidCondition,
                "starts with SELECT",
            ),
            (
                DirectMethodJob::new("j", "q", "").into_request(),
                ErrorKind::InvalidJobRequest,
                "method name",
            ),
            (
                DirectMethodJob::new("j", "q", "m")
                    .with_payload(big)
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "131072",
            ),
            (
                DirectMethodJob::new("j", "q", "m")
                    .with_payload(json!([1]))
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "JSON object",
            ),
            (
                DirectMethodJob::new("j", "q", "m")
                    .with_response_timeout(Duration::from_secs(u64::MAX))
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "response timeout",
            ),
            (
                DirectMethodJob::new("j", "q", "m")
                    .with_max_execution_time(Duration::ZERO)
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "max execution time",
            ),
            (
                DirectMethodJob::new("j", "q", "m")
                    .with_start_time("+11476-08-15T05:20:00Z".parse().unwrap())
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "start time",
            ),
            (
                TwinUpdateJob::new("j", "q")
                    .with_tags(object(json!({"a": 1})))
                    .with_start_time(DateTime::<Utc>::MIN_UTC)
                    .into_request(),
                ErrorKind::InvalidJobRequest,
                "start time",
            ),
        ];
        for (result, kind, named) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.kind(), &kind, "{error}");
            assert!(error.to_string().contains(named), "{error}");
        }
    }

    #[test]
    fn a_retargeted_job_keeps_the_operation_on_new_devices_starting_when_scheduled() {
        let start: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let method = NewJob::DirectMethod(
            DirectMethodJob::new("t", "tags.a = 1", "m")
                .with_payload(json!({"p": 1}))
                .with_start_time(start),
        );
        let twin = NewJob::TwinUpdate(
            TwinUpdateJob::new("t", "tags.a = 1")
                .with_tags(object(json!({"p": 1})))
                .with_start_time(start),
        );
        for (template, operation) in [(method, "cloudToDeviceMethod"), (twin, "updateTwin")] {
            let moved = template.retargeted("t-2".into(), Condition::from("deviceId = 'x'"));
            assert_eq!(moved.job_id(), "t-2");
            let sent = serde_json::to_value(moved.into_request().unwrap()).unwrap();
            assert_eq!(sent["queryCondition"], "deviceId = 'x'");
            let kept = if operation == "updateTwin" {
                "tags"
            } else {
                "payload"
            };
            assert_eq!(sent[operation][kept], json!({"p": 1}), "{operation}");
            let starts = sent["startTime"].as_str().unwrap();
            assert!(starts < "2030", "{operation} starts now, not at {starts}");
        }
    }

    #[test]
    fn a_job_without_its_operation_cannot_be_scheduled_again() {
        for (job, named) in [
            (
                json!({"jobId": "j", "type": "scheduleUpdateTwin"}),
                "scheduleUpdateTwin and no twin patch",
            ),
            (
                json!({"jobId": "j", "type": "scheduleDeviceMethod"}),
                "scheduleDeviceMethod and no method",
            ),
            (
                json!({"jobId": "j", "type": "export"}),
                "export and no twin patch or method to run",
            ),
            (json!({"jobId": "j"}), "its type as none"),
        ] {
            let job: JobResponse = serde_json::from_value(job).unwrap();
            let error = NewJob::of(&job).unwrap_err();
            assert!(error.to_string().contains(named), "{named}: {error}");
        }
        let twin: JobResponse =
            serde_json::from_value(json!({"jobId": "j", "type": "scheduleUpdateTwin",
            "queryCondition": "*", "maxExecutionTimeInSeconds": 60,
            "updateTwin": {"tags": {"a": 1}, "properties": {"desired": {"b": 2}}}}))
            .unwrap();
        let sent =
            serde_json::to_value(NewJob::of(&twin).unwrap().into_request().unwrap()).unwrap();
        assert_eq!(sent["updateTwin"]["tags"], json!({"a": 1}));
        assert_eq!(sent["updateTwin"]["properties"]["desired"], json!({"b": 2}));
        assert_eq!(sent["maxExecutionTimeInSeconds"], 60);
    }
}
