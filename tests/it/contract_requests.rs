//! Request contract: every request the client sends, captured on a real loopback server,
//! is checked against its operation in spec/. Everything checked comes from spec/, so a spec
//! change the client does not follow fails here.

use openapiv3::{OpenAPI, Operation, Parameter, ParameterSchemaOrContent, ReferenceOr};
use serde_json::json;

use std::{collections::BTreeSet, time::Duration};

use futures::StreamExt as _;
use iothub_jobs::{
    DeviceJobQuery, DeviceQuery, DirectMethodJob, ExportJob, Field, ImportJob, JobQuery, Queried,
    StorageAuthentication, TwinUpdateJob,
    models::{DeviceJobStatus, JobStatus, JobType},
};
use iothub_local_hub::LocalHub;

use crate::support;
use crate::support::HubClient as _;

/// A request as sent: from the local hub's record, or written by hand to test the checks.
#[derive(Clone, Debug)]
struct Sent {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Sent {
    fn new(path: &str, query: Option<&str>, headers: &[(&str, &str)]) -> Self {
        Self {
            method: "POST".into(),
            path: path.into(),
            query: query.map(Into::into),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn openapi() -> OpenAPI {
    serde_json::from_str(iothub_jobs::spec::OPENAPI_JSON).unwrap()
}

/// The operation in `spec` whose method and path template match `request`, with the path
/// parameters' values.
fn operation_for<'a>(spec: &'a OpenAPI, request: &Sent) -> (&'a Operation, Vec<(String, String)>) {
    for (template, item) in spec.paths.iter() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let Some((_, operation)) = item
            .iter()
            .find(|(method, _)| method.eq_ignore_ascii_case(&request.method))
        else {
            continue;
        };
        let (wanted, actual): (Vec<&str>, Vec<&str>) = (
            template.split('/').collect(),
            request.path.split('/').collect(),
        );
        if wanted.len() != actual.len() {
            continue;
        }
        let mut values = Vec::new();
        let matches = wanted.iter().zip(&actual).all(|(w, a)| {
            match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) => {
                    values.push((
                        name.to_owned(),
                        percent_encoding::percent_decode_str(a)
                            .decode_utf8()
                            .unwrap()
                            .into_owned(),
                    ));
                    !a.is_empty()
                }
                None => w == a,
            }
        });
        if matches {
            return (operation, values);
        }
    }
    panic!(
        "no operation in spec/ matches {} {}",
        request.method, request.path
    );
}

fn resolve<'a>(spec: &'a OpenAPI, parameter: &'a ReferenceOr<Parameter>) -> &'a Parameter {
    match parameter {
        ReferenceOr::Item(parameter) => parameter,
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/parameters/").unwrap();
            spec.components.as_ref().unwrap().parameters[name]
                .as_item()
                .unwrap()
        }
    }
}

fn default_of(parameter: &Parameter) -> Option<String> {
    match &parameter.parameter_data_ref().format {
        ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)) => schema
            .schema_data
            .default
            .as_ref()
            .and_then(|d| d.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// What spec/ says of `request`; returns every violation.
fn violations(spec: &OpenAPI, request: &Sent, job_id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (operation, path_values) = operation_for(spec, request);
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let parameters: Vec<&Parameter> = operation
        .parameters
        .iter()
        .map(|p| resolve(spec, p))
        .collect();
    for parameter in &parameters {
        let data = parameter.parameter_data_ref();
        match parameter {
            Parameter::Path { .. } => {
                let value = path_values
                    .iter()
                    .find(|(n, _)| *n == data.name)
                    .map(|(_, v)| v.as_str());
                if value != Some(job_id) {
                    found.push(format!(
                        "path parameter {} is {value:?}, expected {job_id:?}",
                        data.name
                    ));
                }
            }
            Parameter::Query { .. } => {
                let values: Vec<&str> = query
                    .iter()
                    .filter(|(n, _)| *n == data.name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                if data.required && values.is_empty() {
                    found.push(format!("required query parameter {} is missing", data.name));
                }
                if values.len() > 1 {
                    found.push(format!(
                        "query parameter {} is sent {} times",
                        data.name,
                        values.len()
                    ));
                }
                if let (Some(default), Some(value)) = (default_of(parameter), values.first())
                    && *value != default
                {
                    found.push(format!(
                        "query parameter {} is {value}, spec/'s default is {default}",
                        data.name
                    ));
                }
                if request.header(&data.name).is_some() {
                    found.push(format!(
                        "{} is a query parameter but is also sent as a header",
                        data.name
                    ));
                }
            }
            Parameter::Header { .. } if data.required && request.header(&data.name).is_none() => {
                found.push(format!("required header {} is missing", data.name));
            }
            _ => {}
        }
    }
    for (name, _) in &query {
        if !parameters
            .iter()
            .any(|p| matches!(p, Parameter::Query { .. }) && p.parameter_data_ref().name == *name)
        {
            found.push(format!("query parameter {name} is not declared"));
        }
    }
    if let Some(ReferenceOr::Item(body)) = &operation.request_body {
        let content_type = request.header("content-type").unwrap_or_default();
        match body.content.get(content_type) {
            None => found.push(format!(
                "Content-Type {content_type:?}, the body is declared as {:?}",
                body.content.keys()
            )),
            Some(media) => {
                let schema = serde_json::to_value(&media.schema).unwrap();
                let name = schema["$ref"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("#/components/schemas/");
                match serde_json::from_slice::<serde_json::Value>(&request.body) {
                    Ok(sent) => {
                        let problems =
                            support::violations(&support::strict_validator_for(name), &sent);
                        if !problems.is_empty() {
                            found.push(format!("the body is not a valid {name}: {problems}"));
                        }
                    }
                    Err(e) => found.push(format!("the body is not JSON: {e}")),
                }
            }
        }
    }
    if operation.request_body.is_none() {
        if !request.body.is_empty() {
            found.push(format!(
                "a body of {} bytes where none is declared",
                request.body.len()
            ));
        }
        if request.method == "POST" && request.header("content-length") != Some("0") {
            found.push(
                "a POST without a body must say Content-Length: 0 (the service answers 411)".into(),
            );
        }
    }
    let success = operation
        .responses
        .responses
        .iter()
        .find(|(status, _)| status.to_string().starts_with('2'));
    let media_types: Vec<String> = success
        .and_then(|(_, response)| response.as_item())
        .map(|response| response.content.keys().cloned().collect())
        .unwrap_or_default();
    match request.header("accept") {
        Some(accept) if media_types.iter().any(|m| m == accept) => {}
        // An answer without a body: any Accept does.
        None | Some("*/*") if media_types.is_empty() => {}
        other => found.push(format!(
            "Accept is {other:?}, the success response is {media_types:?}"
        )),
    }
    if request.header("authorization").is_none() {
        found.push("no Authorization header".into());
    }
    found
}

/// Runs `call` and returns its outcome with the requests the hub received meanwhile.
async fn sent_by<T>(hub: &LocalHub, call: impl Future<Output = T>) -> (T, Vec<Sent>) {
    let before = hub.requests().len();
    let outcome = call.await;
    let sent = hub.requests()[before..]
        .iter()
        .map(|request| Sent {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        })
        .collect();
    (outcome, sent)
}

/// Each of `sent` is a `method` request for `id` that spec/ allows, and there is at least one;
/// the operations they are go into `covered` (as `METHOD /path/{template}`).
fn assert_allowed(
    spec: &OpenAPI,
    covered: &mut BTreeSet<String>,
    sent: &[Sent],
    method: &str,
    id: &str,
) {
    assert!(!sent.is_empty(), "{method} for {id:?} sent nothing");
    for request in sent {
        assert_eq!(request.method, method, "{request:?}");
        covered.extend(support::spec_operation_for(&request.method, &request.path));
        let problems = violations(spec, request, id);
        assert!(problems.is_empty(), "{request:?}:\n{}", problems.join("\n"));
    }
}

#[tokio::test]
async fn every_request_matches_its_operation_in_spec() {
    let spec = openapi();
    let mut covered = BTreeSet::new();
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    // Each operation, with ids of every allowed character class, in success and failure alike.
    for id in ["a", "Z", "0", "-", "Mixed-Case-123", &"x".repeat(64)] {
        let start = chrono::Utc::now() + chrono::Duration::hours(1);
        let desired = support::object(json!({"firmware": {"version": "2.4"}}));
        let job = TwinUpdateJob::new(id, "deviceId IN ['d']")
            .with_desired_properties(desired)
            .with_start_time(start);
        let (created, sent) = sent_by(&hub, client.schedule_twin_update(job)).await;
        created.unwrap();
        assert_allowed(&spec, &mut covered, &sent, "PUT", id);
        let (got, sent) = sent_by(&hub, client.get_job(id)).await;
        assert_eq!(got.unwrap().job_id.as_deref(), Some(id));
        assert_allowed(&spec, &mut covered, &sent, "GET", id);
        let (cancelled, sent) = sent_by(&hub, client.cancel_job(id)).await;
        assert_eq!(cancelled.unwrap().status, Some(JobStatus::Cancelled));
        assert_allowed(&spec, &mut covered, &sent, "POST", id);
    }
    hub.insert_job_json(json!({"jobId": "busy", "status": "running"}));
    let (refused, sent) = sent_by(&hub, client.cancel_job("busy")).await;
    assert!(refused.unwrap_err().is_operation_not_allowed());
    assert_allowed(&spec, &mut covered, &sent, "POST", "busy");
    let (missing, sent) = sent_by(&hub, client.get_job("not-there")).await;
    assert!(missing.unwrap_err().is_not_found());
    assert_allowed(&spec, &mut covered, &sent, "GET", "not-there");

    // Three devices that never connect: once the job has run, each has a failed row.
    for device in ["d1", "d2", "d3"] {
        hub.set_device_offline(device);
    }
    let method = DirectMethodJob::new("method-job", "deviceId IN ['d1', 'd2', 'd3']", "reboot")
        .with_payload(json!({"delay": 1}))
        .with_connect_timeout(Duration::from_secs(5))
        .with_response_timeout(Duration::from_secs(10))
        .with_max_execution_time(Duration::from_secs(600));
    let (created, sent) = sent_by(&hub, client.schedule_direct_method(method)).await;
    assert_eq!(created.unwrap().type_, Some(JobType::ScheduleDeviceMethod));
    assert_allowed(&spec, &mut covered, &sent, "PUT", "method-job");

    let query = JobQuery::default()
        .with_status(JobStatus::Cancelled)
        .with_type(JobType::ScheduleUpdateTwin)
        .with_page_size(2);
    let (jobs, sent) = sent_by(&hub, async {
        std::pin::pin!(client.query_jobs(query))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(jobs.len(), 6, "every cancelled twin update: {jobs:?}");
    assert!(jobs.iter().all(Result::is_ok));
    assert!(sent.len() > 1, "more jobs than one page of 2 holds");
    assert_allowed(&spec, &mut covered, &sent, "GET", "");

    // Import/export jobs: every builder option, so the strict body check sees every field.
    let container = "https://acct.blob.core.windows.net/devices?sv=2024-08-04&sig=c2lnbmF0dXJl";
    let export = ExportJob::new(container, StorageAuthentication::KeyBased)
        .with_output_blob_name("devices.txt")
        .with_authentication_keys()
        .with_configurations_blob_name("configurations.txt");
    let (created, sent) = sent_by(&hub, client.export_devices(export)).await;
    let id = created.unwrap().job_id.unwrap();
    assert_allowed(&spec, &mut covered, &sent, "POST", "");
    let (got, sent) = sent_by(&hub, client.get_import_export_job(&id)).await;
    assert_eq!(got.unwrap().job_id.as_deref(), Some(id.as_str()));
    assert_allowed(&spec, &mut covered, &sent, "GET", &id);
    let (listed, sent) = sent_by(&hub, client.list_import_export_jobs()).await;
    assert_eq!(listed.unwrap().len(), 1);
    assert_allowed(&spec, &mut covered, &sent, "GET", "");
    let (cancelled, sent) = sent_by(&hub, client.cancel_import_export_job(&id)).await;
    cancelled.unwrap();
    assert_allowed(&spec, &mut covered, &sent, "DELETE", &id);
    let plain = "https://acct.blob.core.windows.net/devices";
    let identity = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i";
    let import = ImportJob::new(
        plain,
        plain,
        StorageAuthentication::UserAssignedIdentity(identity.into()),
    )
    .with_input_blob_name("in.txt")
    .with_configurations();
    let (created, sent) = sent_by(&hub, client.import_devices(import)).await;
    created.unwrap();
    assert_allowed(&spec, &mut covered, &sent, "POST", "");

    // A job's rows per device, two to a page, failed ones only.
    hub.advance_time(Duration::from_secs(120)); // past the 60 s the hub runs a job
    let filter = DeviceJobQuery::default()
        .with_status(DeviceJobStatus::Failed)
        .with_page_size(2);
    let (rows, sent) = sent_by(&hub, async {
        std::pin::pin!(client.query_device_jobs("method-job", filter))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(rows.len(), 3, "a failed row per device: {rows:?}");
    assert!(rows.iter().all(Result::is_ok), "{rows:?}");
    assert!(sent.len() > 1, "more rows than one page of 2 holds");
    assert_allowed(&spec, &mut covered, &sent, "POST", "");

    // Device queries: a count, twins and ids, two to a page, with a built condition.
    let offline = Field::device_id()
        .is_in(["d1", "d2", "d3"])
        .and(!Field::tag("x").is_defined());
    let (count, sent) = sent_by(&hub, client.count_devices(offline.clone())).await;
    assert_eq!(count.unwrap(), 3);
    assert_allowed(&spec, &mut covered, &sent, "POST", "");
    let query = DeviceQuery::new(offline).with_page_size(2);
    let (twins, sent) = sent_by(&hub, async {
        std::pin::pin!(client.query_twins(query.clone()))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert!(
        twins
            .iter()
            .all(|twin| matches!(twin, Ok(Queried::Item(_)))),
        "{twins:?}"
    );
    assert_eq!((twins.len(), sent.len()), (3, 2), "3 twins in pages of 2");
    assert_allowed(&spec, &mut covered, &sent, "POST", "");
    let (ids, sent) = sent_by(&hub, async {
        std::pin::pin!(client.query_device_ids(query))
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_allowed(&spec, &mut covered, &sent, "POST", "");

    support::assert_every_operation(&covered, "no request above exercised");
}

#[test]
fn the_checks_catch_a_request_the_spec_does_not_allow() {
    let spec = openapi();
    let good = Sent::new(
        "/jobs/v2/j1/cancel",
        Some("api-version=2021-04-12"),
        &[
            ("accept", "application/json"),
            ("content-length", "0"),
            ("authorization", "SharedAccessSignature x"),
        ],
    );
    assert!(violations(&spec, &good, "j1").is_empty());
    let without_version = Sent {
        query: None,
        ..good.clone()
    };
    assert!(
        violations(&spec, &without_version, "j1")
            .iter()
            .any(|v| v.contains("api-version is missing"))
    );
    let old_version = Sent {
        query: Some("api-version=2020-09-30".into()),
        ..good.clone()
    };
    assert!(
        violations(&spec, &old_version, "j1")
            .iter()
            .any(|v| v.contains("spec/'s default is 2021-04-12"))
    );
    let extra = Sent {
        query: Some("api-version=2021-04-12&top=5".into()),
        ..good.clone()
    };
    assert!(
        violations(&spec, &extra, "j1")
            .iter()
            .any(|v| v.contains("top is not declared"))
    );
    let header = Sent::new(
        "/jobs/v2/j1/cancel",
        Some("api-version=2021-04-12"),
        &[
            ("accept", "application/json"),
            ("authorization", "x"),
            ("api-version", "2021-04-12"),
        ],
    );
    let problems = violations(&spec, &header, "j1");
    assert!(
        problems.iter().any(|v| v.contains("also sent as a header")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|v| v.contains("Content-Length: 0")),
        "{problems:?}"
    );
    assert!(
        violations(&spec, &good, "j2")
            .iter()
            .any(|v| v.contains("path parameter id"))
    );
    let no_accept = Sent::new(
        "/jobs/v2/j1/cancel",
        Some("api-version=2021-04-12"),
        &[("content-length", "0"), ("authorization", "x")],
    );
    assert!(
        violations(&spec, &no_accept, "j1")
            .iter()
            .any(|v| v.contains("Accept is None"))
    );
    let anonymous = Sent::new(
        "/jobs/v2/j1/cancel",
        Some("api-version=2021-04-12"),
        &[("accept", "application/json"), ("content-length", "0")],
    );
    assert_eq!(
        violations(&spec, &anonymous, "j1"),
        ["no Authorization header"]
    );
    let create = |content_type: &str, body: serde_json::Value| Sent {
        method: "PUT".into(),
        body: serde_json::to_vec(&body).unwrap(),
        ..Sent::new(
            "/jobs/v2/j1",
            Some("api-version=2021-04-12"),
            &[
                ("accept", "application/json"),
                ("authorization", "x"),
                ("content-type", content_type),
            ],
        )
    };
    let job = json!({"jobId": "j1", "type": "scheduleUpdateTwin", "queryCondition": "q",
        "startTime": "2030-01-01T00:00:00Z", "updateTwin": {"etag": "*", "tags": {"site": {"name": "b"}}}});
    assert_eq!(
        violations(&spec, &create("application/json", job.clone()), "j1"),
        Vec::<String>::new()
    );
    let misspelled = json!({"jobId": "j1", "type": "scheduleUpdateTwin", "querycondition": "q"});
    assert!(
        violations(&spec, &create("application/json", misspelled), "j1")
            .iter()
            .any(|v| v.contains("not a valid JobRequest") && v.contains("querycondition"))
    );
    let wrong_type = json!({"jobId": "j1", "maxExecutionTimeInSeconds": "long"});
    assert!(
        violations(&spec, &create("application/json", wrong_type), "j1")
            .iter()
            .any(|v| v.contains("not a valid JobRequest"))
    );
    assert!(
        violations(&spec, &create("text/plain", job), "j1")
            .iter()
            .any(|v| v.contains("Content-Type \"text/plain\""))
    );
}
