//! The local hub answers as spec/ and the service do: success bodies valid against spec/,
//! error bodies in the service's documented shape, and SAS tokens judged like the service
//! judges them — checked with raw HTTP and tokens minted independently of the crate.

use std::time::{Duration, UNIX_EPOCH};

use iothub_local_hub::LocalHub;
use serde_json::{Value, json};

use crate::support;
use crate::support::HubClient as _;

/// The service's classic error body.
fn error_body_shape() -> jsonschema::Validator {
    jsonschema::validator_for(&json!({
        "type": "object",
        "required": ["Message", "ExceptionMessage"],
        "properties": {
            "Message": {"type": "string", "pattern": "^ErrorCode:[A-Za-z]+;.+$"},
            "ExceptionMessage": {
                "type": "string",
                "pattern": "^Tracking ID:[0-9a-f]{32}-G:[0-9]+-TimeStamp:[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
            }
        }
    }))
    .unwrap()
}

/// POSTs a cancel with `authorization` and returns the status, the `iothub-errorcode` header
/// and the body.
async fn cancel(hub: &LocalHub, job_id: &str, authorization: &str) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(support::hub_url(hub, &format!("/jobs/v2/{job_id}/cancel")))
        .header("authorization", authorization)
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get("iothub-errorcode")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, code, response.json().await.unwrap())
}

#[tokio::test]
async fn success_bodies_are_valid_against_spec() {
    use reqwest::Method;
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    hub.set_time(std::time::SystemTime::now());
    // Strict: no field the spec does not declare, so a misspelled one in the hub fails here.
    let validator = support::strict_validator_for("JobResponse");
    let mut bodies = vec![hub.schedule_job("j")];
    let (status, _, body) = cancel(&hub, "j", &support::hub_token(&hub)).await;
    assert_eq!((status, &body["status"]), (200, &json!("cancelled")));
    bodies.push(body);
    let now = chrono::Utc::now().to_rfc3339();
    for (id, job) in [
        (
            "twin",
            json!({"type": "scheduleUpdateTwin", "queryCondition": "deviceId IN ['a', 'b']",
            "startTime": now, "maxExecutionTimeInSeconds": 60,
            "updateTwin": {"etag": "*", "tags": {"site": {"name": "b"}}}}),
        ),
        (
            "method",
            json!({"type": "scheduleDeviceMethod", "queryCondition": "deviceId = 'a'",
            "startTime": now, "cloudToDeviceMethod": {"methodName": "reboot", "payload": {"delay": 1},
            "responseTimeoutInSeconds": 30, "connectTimeoutInSeconds": 5}}),
        ),
    ] {
        let (status, _, created) =
            support::send(&hub, Method::PUT, &format!("/jobs/v2/{id}"), Some(job)).await;
        assert_eq!(status, 200, "{created}");
        bodies.push(created);
    }
    hub.advance_time(Duration::from_secs(5));
    bodies.push(
        support::send(&hub, Method::GET, "/jobs/v2/twin", None)
            .await
            .2,
    );
    hub.advance_time(Duration::from_secs(10));
    bodies.push(
        support::send(&hub, Method::GET, "/jobs/v2/method", None)
            .await
            .2,
    );
    let (_, _, page) = support::send(&hub, Method::GET, "/jobs/v2/query", None).await;
    bodies.extend(page.as_array().unwrap().iter().cloned());
    let statuses: Vec<_> = bodies.iter().map(|b| b["status"].clone()).collect();
    for wanted in ["scheduled", "cancelled", "running", "completed"] {
        assert!(statuses.contains(&json!(wanted)), "{statuses:?}");
    }
    for body in &bodies {
        assert_eq!(support::violations(&validator, body), "", "{body}");
    }

    // Import/export jobs, through their life: strict as well, but for what the service does
    // beyond the API description, which the hub does too: two fields of its own, and `null`
    // for an absent one (`"failureReason": null`).
    const SERVICE_EXTRAS: [&str; 2] = ["parentJobId", "useSecondaryStorageAsSource"];
    let validator = support::strict_validator_for("JobProperties");
    let export = json!({"type": "export", "outputBlobContainerUri": SAS_CONTAINER,
        "outputBlobName": "d.txt", "excludeKeysInExport": true, "includeConfigurations": true,
        "configurationsBlobName": "c.txt", "storageAuthenticationType": "keyBased"});
    let (status, _, created) =
        support::send(&hub, Method::POST, "/jobs/create", Some(export)).await;
    assert_eq!(status, 200, "{created}");
    let id = created["jobId"].as_str().unwrap().to_owned();
    let mut jobs = vec![created];
    for step in [1, 2, 1] {
        hub.advance_time(Duration::from_secs(step));
        jobs.push(
            support::send(&hub, Method::GET, &format!("/jobs/{id}"), None)
                .await
                .2,
        );
    }
    let (_, _, listed) = support::send(&hub, Method::GET, "/jobs", None).await;
    jobs.extend(listed.as_array().unwrap().iter().cloned());
    let statuses: Vec<_> = jobs.iter().map(|j| j["status"].clone()).collect();
    for wanted in ["enqueued", "running", "completed"] {
        assert!(statuses.contains(&json!(wanted)), "{statuses:?}");
    }
    for mut job in jobs {
        job.as_object_mut()
            .unwrap()
            .retain(|name, _| !SERVICE_EXTRAS.contains(&name.as_str()));
        let job = support::without_nulls(&job);
        assert_eq!(support::violations(&validator, &job), "", "{job}");
    }
}

#[tokio::test]
async fn error_bodies_have_the_service_shape_and_header() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(json!({"jobId": "busy", "status": "running"}));
    let shape = error_body_shape();
    for (job_id, authorization, status, code) in [
        ("nope", support::hub_token(&hub), 404, "JobNotFound"),
        (
            "busy",
            support::hub_token(&hub),
            400,
            "OperationNotAllowedInCurrentState",
        ),
        (
            "nope",
            "SharedAccessSignature sr=x".to_owned(),
            401,
            "IotHubUnauthorizedAccess",
        ),
    ] {
        let (actual_status, header, body) = cancel(&hub, job_id, &authorization).await;
        assert_eq!(actual_status, status, "{body}");
        assert_eq!(support::violations(&shape, &body), "", "{body}");
        assert!(
            body["Message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("ErrorCode:{code};")),
            "{body}"
        );
        assert_eq!(header.as_deref(), Some(code));
    }
}

#[tokio::test]
async fn the_documented_token_vector_is_accepted_until_it_expires() {
    // Key `cGFzc3dvcmQ=`, sr `uri`, se `12345` → sig `kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D`,
    // from the official SDKs' tests.
    let hub = LocalHub::builder()
        .host_name("uri")
        .policy("keyName", "cGFzc3dvcmQ=")
        .unwrap()
        .start()
        .await
        .unwrap();
    let vector = "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345&skn=keyName";
    hub.set_time(UNIX_EPOCH + Duration::from_secs(12_000));
    let (status, code, body) = cancel(&hub, "nope", vector).await;
    assert_eq!(
        (status, code.as_deref()),
        (404, Some("JobNotFound")),
        "past authentication: {body}"
    );
    hub.advance_time(Duration::from_secs(345));
    let (status, _, body) = cancel(&hub, "nope", vector).await;
    assert_eq!(status, 401);
    assert!(
        body["Message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test]
async fn the_hubs_debug_names_where_it_listens_never_its_key() {
    let hub = LocalHub::start().await.unwrap();
    let shown = format!("{hub:?}");
    assert!(
        shown.contains(&hub.endpoint()) && shown.contains(hub.policy_name()),
        "{shown}"
    );
    crate::secret_forms::assert_hidden(&shown, &hub.policy_key());
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let (host, name, key) = (
        hub.host_name().to_owned(),
        hub.policy_name().to_owned(),
        hub.policy_key(),
    );
    let later = support::unix_now() + 600;
    let valid = support::mint_token(&host, &name, &key, later);
    let cases = [
        (
            "wrong key",
            support::mint_token(&host, &name, "d3Jvbmcta2V5", later),
            "signature does not match",
        ),
        (
            "wrong skn",
            support::mint_token(&host, "registryRead", &key, later),
            "unknown shared access policy",
        ),
        (
            "expired se",
            support::mint_token(&host, &name, &key, support::unix_now() - 1),
            "expired",
        ),
        (
            "tampered sr",
            valid.replace(&format!("sr={host}"), "sr=other.azure-devices.net"),
            "another resource",
        ),
        (
            "tampered se",
            valid.replace(&format!("se={later}"), &format!("se={}", later + 1)),
            "signature does not match",
        ),
        (
            "not SAS",
            "Bearer abc".to_owned(),
            "not a SharedAccessSignature",
        ),
        (
            "scoped to a device",
            support::mint_token(&format!("{host}/devices/some-device"), &name, &key, later),
            "another resource",
        ),
        (
            "scoped to a sibling path",
            support::mint_token(&format!("{host}/jobsx"), &name, &key, later),
            "another resource",
        ),
    ];
    for (what, token, reason) in cases {
        let (status, code, body) = cancel(&hub, "j", &token).await;
        assert_eq!(
            (status, code.as_deref()),
            (401, Some("IotHubUnauthorizedAccess")),
            "{what}"
        );
        assert!(
            body["Message"].as_str().unwrap().contains(reason),
            "{what}: {body}"
        );
    }
    assert_eq!(
        hub.job("j").unwrap()["status"],
        "scheduled",
        "no bad token changed anything"
    );
    assert_eq!(cancel(&hub, "j", &valid).await.0, 200);
}

#[tokio::test]
async fn a_token_scoped_to_a_path_above_the_request_is_accepted() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let later = support::unix_now() + 600;
    let jobs_scoped = support::mint_token(
        &format!("{}/jobs", hub.host_name()),
        hub.policy_name(),
        &hub.policy_key(),
        later,
    );
    let (status, _, body) = cancel(&hub, "j", &jobs_scoped).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_hub_routes_every_operation_in_spec() {
    let hub = LocalHub::start().await.unwrap();
    let http = reqwest::Client::new();
    let token = support::hub_token(&hub);
    let operations = support::spec_operations();
    assert!(operations.len() >= 9, "{operations:?}");
    let mut unrouted = Vec::new();
    for operation in &operations {
        let (method, template) = operation.split_once(' ').unwrap();
        let path = template.replace("{id}", "route-check");
        let response = http
            .request(method.parse().unwrap(), support::hub_url(&hub, &path))
            .header("authorization", &token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        // What the hub answers where it has no handler: a 404 or 405 of its own codes.
        let code = response
            .headers()
            .get("iothub-errorcode")
            .and_then(|code| code.to_str().ok())
            .map(str::to_owned);
        if matches!(
            code.as_deref(),
            Some("NotFound" | "GenericMethodNotAllowed")
        ) {
            unrouted.push(format!("{operation}: {} {code:?}", response.status()));
        }
    }
    assert!(
        unrouted.is_empty(),
        "operations in spec/ the hub does not answer: {unrouted:#?}"
    );
}

/// Sends every operation the hub serves, with a valid token, and returns the statuses.
async fn every_operation(hub: &LocalHub) -> Vec<u16> {
    let http = reqwest::Client::new();
    let token = support::hub_token(hub);
    let url = |path: &str| support::hub_url(hub, path);
    let create = json!({"type": "scheduleUpdateTwin", "queryCondition": "deviceId IN ['d']",
        "startTime": "2030-01-01T00:00:00Z", "updateTwin": {"etag": "*", "tags": {"a": 1}}});
    let requests = [
        http.put(url("/jobs/v2/new")).json(&create),
        http.get(url("/jobs/v2/j")),
        http.get(url("/jobs/v2/new")),
        http.get(url("/jobs/v2/query"))
            .header("x-ms-max-item-count", "1000000"),
        http.post(url("/jobs/v2/j/cancel"))
            .header("content-length", "0"),
        http.post(url("/jobs/create"))
            .json(&json!({"type": "export",
            "outputBlobContainerUri": "https://a.blob.core.windows.net/c?sig=x"})),
        http.get(url("/jobs")),
        http.get(url("/jobs/some-id")),
        http.delete(url("/jobs/some-id")),
    ];
    let mut statuses = Vec::new();
    for request in requests {
        let response = request
            .header("authorization", &token)
            .send()
            .await
            .expect("the hub answers every request with a status");
        statuses.push(response.status().as_u16());
        response.bytes().await.expect("and a whole body");
    }
    statuses
}

#[tokio::test]
async fn every_builder_option_at_its_extremes_still_answers() {
    let builders = [
        (
            "run time MAX",
            LocalHub::builder().job_run_time(Duration::MAX),
        ),
        (
            "run time 0",
            LocalHub::builder().job_run_time(Duration::ZERO),
        ),
        (
            "transfer MAX",
            LocalHub::builder().import_export_run_time(Duration::MAX),
        ),
        (
            "transfer 0",
            LocalHub::builder().import_export_run_time(Duration::ZERO),
        ),
        ("no active jobs", LocalHub::builder().max_active_jobs(0)),
        (
            "active jobs MAX",
            LocalHub::builder().max_active_jobs(usize::MAX),
        ),
        ("page size 0", LocalHub::builder().max_page_size(0)),
        (
            "page size MAX",
            LocalHub::builder().max_page_size(usize::MAX),
        ),
        ("empty key", LocalHub::builder().policy("p", "").unwrap()),
        (
            "empty names",
            LocalHub::builder()
                .host_name("")
                .policy("", "AA==")
                .unwrap(),
        ),
    ];
    for (what, builder) in builders {
        let hub = builder.start().await.unwrap();
        hub.schedule_job("j");
        let statuses = every_operation(&hub).await;
        assert!(statuses.iter().all(|s| *s < 500), "{what}: {statuses:?}");
        // Whatever the clock says.
        for time in [UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)] {
            hub.set_time(time);
            hub.schedule_job("k");
            every_operation(&hub).await;
        }
        hub.set_time(std::time::SystemTime::now());
        hub.advance_time(Duration::MAX);
        hub.schedule_job("l");
        every_operation(&hub).await;
        hub.set_time(std::time::SystemTime::now());
        let statuses = every_operation(&hub).await;
        assert!(statuses.iter().all(|s| *s < 500), "{what}: {statuses:?}");
    }
}

const SAS_CONTAINER: &str =
    "https://backups.blob.core.windows.net/devices?sv=2024-01-01&sig=c2VjcmV0LXNhcw%3D";

#[tokio::test]
async fn an_export_job_runs_on_the_hubs_clock_one_at_a_time() {
    use reqwest::Method;
    let hub = LocalHub::builder()
        .import_export_run_time(Duration::from_secs(100))
        .start()
        .await
        .unwrap();
    let now = std::time::SystemTime::now();
    hub.set_time(now);
    let export = json!({"type": "export", "outputBlobContainerUri": SAS_CONTAINER, "excludeKeysInExport": true});
    let (status, _, created) =
        support::send(&hub, Method::POST, "/jobs/create", Some(export.clone())).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        (&created["status"], &created["progress"], &created["type"]),
        (&json!("enqueued"), &json!(0), &json!("export"))
    );
    let id = created["jobId"].as_str().unwrap().to_owned();
    assert_eq!(
        created["outputBlobContainerUri"], SAS_CONTAINER,
        "echoed like the service"
    );

    let (status, code, _) =
        support::send(&hub, Method::POST, "/jobs/create", Some(export.clone())).await;
    assert_eq!((status, code.as_deref()), (403, Some("JobQuotaExceeded")));

    hub.advance_time(Duration::from_secs(55));
    let (_, _, running) = support::send(&hub, Method::GET, &format!("/jobs/{id}"), None).await;
    assert_eq!(
        (&running["status"], &running["progress"]),
        (&json!("running"), &json!(50))
    );
    assert!(running["startTimeUtc"].is_string() && running.get("endTimeUtc").is_none());

    hub.advance_time(Duration::from_secs(45));
    let (_, _, done) = support::send(&hub, Method::GET, &format!("/jobs/{id}"), None).await;
    assert_eq!(
        (&done["status"], &done["progress"]),
        (&json!("completed"), &json!(100))
    );
    assert!(done["endTimeUtc"].is_string());

    let (status, _, second) = support::send(&hub, Method::POST, "/jobs/create", Some(export)).await;
    assert_eq!(status, 200, "the hub is free again: {second}");
    let (_, _, all) = support::send(&hub, Method::GET, "/jobs", None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unusable_container_fails_the_job_with_a_reason_and_no_secret() {
    use reqwest::Method;
    let hub = LocalHub::builder()
        .import_export_run_time(Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    hub.set_time(std::time::SystemTime::now());
    for (request, reason) in [
        (
            json!({"type": "export", "outputBlobContainerUri": "https://backups.blob.core.windows.net/devices"}),
            "SAS",
        ),
        (
            json!({"type": "export", "outputBlobContainerUri": "http://backups.blob.core.windows.net/d?sig=c2VjcmV0"}),
            "https",
        ),
        (
            json!({"type": "import", "inputBlobContainerUri": "https://gone.invalid/in?sig=c2VjcmV0", "outputBlobContainerUri": SAS_CONTAINER}),
            "reached",
        ),
    ] {
        let (status, _, created) =
            support::send(&hub, Method::POST, "/jobs/create", Some(request.clone())).await;
        assert_eq!(status, 200, "{created}");
        let id = created["jobId"].as_str().unwrap().to_owned();
        hub.advance_time(Duration::from_secs(1));
        let (_, _, failed) = support::send(&hub, Method::GET, &format!("/jobs/{id}"), None).await;
        assert_eq!(failed["status"], "failed", "{request}");
        let why = failed["failureReason"].as_str().unwrap();
        assert!(why.contains(reason) && !why.contains("c2VjcmV0"), "{why}");
    }
}

#[tokio::test]
async fn import_export_jobs_are_checked_cancelled_and_found_like_the_service() {
    use reqwest::Method;
    let hub = LocalHub::start().await.unwrap();
    for (request, complaint) in [
        (
            json!({"outputBlobContainerUri": SAS_CONTAINER}),
            "'export' or 'import'",
        ),
        (json!({"type": "export"}), "outputBlobContainerUri"),
        (
            json!({"type": "import", "outputBlobContainerUri": SAS_CONTAINER}),
            "inputBlobContainerUri",
        ),
        (
            json!({"type": "export", "outputBlobContainerUri": SAS_CONTAINER, "storageAuthenticationType": "password"}),
            "storageAuthenticationType",
        ),
    ] {
        let (status, code, body) =
            support::send(&hub, Method::POST, "/jobs/create", Some(request)).await;
        assert_eq!(
            (status, code.as_deref()),
            (400, Some("ArgumentInvalid")),
            "{body}"
        );
        assert!(
            body["Message"].as_str().unwrap().contains(complaint),
            "{body}"
        );
    }
    let identity = json!({"type": "export", "outputBlobContainerUri": "https://backups.blob.core.windows.net/devices",
        "storageAuthenticationType": "IdentityBased", "identity": {"userAssignedIdentity": "/subscriptions/s/x"}});
    let (status, _, created) =
        support::send(&hub, Method::POST, "/jobs/create", Some(identity)).await;
    assert_eq!(status, 200);
    let id = created["jobId"].as_str().unwrap().to_owned();
    let (status, _, _) = support::send(&hub, Method::DELETE, &format!("/jobs/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(hub.import_export_job(&id).unwrap()["status"], "cancelled");
    let (status, code, _) = support::send(&hub, Method::DELETE, "/jobs/no-such-job", None).await;
    assert_eq!((status, code.as_deref()), (404, Some("JobNotFound")));
    let (status, code, _) = support::send(&hub, Method::GET, "/jobs/no-such-job", None).await;
    assert_eq!((status, code.as_deref()), (404, Some("JobNotFound")));
}

#[tokio::test]
async fn a_direct_method_job_yields_a_row_per_device_moving_with_the_job() {
    use reqwest::Method;
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let now = std::time::SystemTime::now();
    hub.set_time(now);
    hub.add_devices(["d1", "d2", "d3"]).unwrap();
    hub.set_device_offline("d2");
    hub.set_method_response("d3", 500, json!({"error": "disk full"}));
    let start = chrono::DateTime::<chrono::Utc>::from(now) + chrono::Duration::seconds(10);
    let create = json!({"type": "scheduleDeviceMethod", "queryCondition": "deviceId IN ['d1', 'd2', 'd3']",
        "startTime": start.to_rfc3339(), "cloudToDeviceMethod": {"methodName": "reboot"}});
    let (status, _, created) =
        support::send(&hub, Method::PUT, "/jobs/v2/reboot", Some(create)).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["deviceJobStatistics"]["pendingCount"], 3);
    let query = |text: &str| json!({"query": text});
    let all = "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'reboot'";
    let (_, _, rows) = support::send(&hub, Method::POST, "/devices/query", Some(query(all))).await;
    let statuses: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("scheduled"), json!("scheduled"), json!("scheduled")]
    );
    let mut every_row = rows.as_array().unwrap().clone();

    hub.advance_time(Duration::from_secs(15));
    let (_, _, rows) = support::send(&hub, Method::POST, "/devices/query", Some(query(all))).await;
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "running"),
        "{rows}"
    );
    every_row.extend(rows.as_array().unwrap().iter().cloned());

    hub.advance_time(Duration::from_secs(30));
    let (_, _, job) = support::send(&hub, Method::GET, "/jobs/v2/reboot", None).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(
        job["deviceJobStatistics"],
        json!({"deviceCount": 3, "failedCount": 1, "succeededCount": 2, "runningCount": 0, "pendingCount": 0})
    );
    let (status, _, rows) =
        support::send(&hub, Method::POST, "/devices/query", Some(query(all))).await;
    assert_eq!(status, 200);
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "the hub pages three rows at a time, and there are three"
    );
    assert_eq!(
        (
            &rows[0]["deviceId"],
            &rows[0]["status"],
            &rows[0]["outcome"]
        ),
        (
            &json!("d1"),
            &json!("completed"),
            &json!({"deviceMethodResponse": {"status": 200, "payload": {}}})
        )
    );
    assert_eq!(
        (&rows[1]["status"], &rows[1]["error"]["code"]),
        (&json!("failed"), &json!("DeviceNotOnline"))
    );
    assert_eq!(rows[2]["outcome"]["deviceMethodResponse"]["status"], 500);
    for field in [
        "jobId",
        "jobType",
        "createdDateTimeUtc",
        "startTimeUtc",
        "endTimeUtc",
        "lastUpdatedDateTimeUtc",
    ] {
        assert!(rows[0][field].is_string(), "{field}: {}", rows[0]);
    }
    let failed = "select * from devices.jobs where devices.jobs.jobId = 'reboot' and devices.jobs.status = 'failed'";
    let (_, _, rows) =
        support::send(&hub, Method::POST, "/devices/query", Some(query(failed))).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let (status, code, _) = support::send(
        &hub,
        Method::POST,
        "/devices/query",
        Some(query("SELECT deviceId FROM devices.jobs")),
    )
    .await;
    assert_eq!(
        (status, code.as_deref()),
        (400, Some("ArgumentInvalid")),
        "device-job queries select * only"
    );

    // Every row the hub writes, through the job's life, is a DeviceJob as spec/ describes it.
    let validator = support::strict_validator_for("DeviceJob");
    let (_, _, rows) = support::send(&hub, Method::POST, "/devices/query", Some(query(all))).await;
    hub.add_devices(["t"]).unwrap();
    let twin = json!({"type": "scheduleUpdateTwin", "queryCondition": "deviceId = 't'",
        "startTime": chrono::Utc::now().to_rfc3339(), "updateTwin": {"etag": "*", "tags": {"a": {"b": 1}}}});
    let (status, _, created) = support::send(&hub, Method::PUT, "/jobs/v2/twin", Some(twin)).await;
    assert_eq!(status, 200, "{created}");
    let twin_rows = query("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'twin'");
    let (_, _, pending) =
        support::send(&hub, Method::POST, "/devices/query", Some(twin_rows)).await;
    assert!(!pending.as_array().unwrap().is_empty(), "{pending}");
    every_row.extend(rows.as_array().unwrap().iter().cloned());
    every_row.extend(pending.as_array().unwrap().iter().cloned());
    for row in &every_row {
        let row = support::without_nulls(row);
        assert_eq!(support::violations(&validator, &row), "", "{row}");
    }
}

/// The hub judges job ids by its own rule, not the client's: an id the client refuses without
/// sending is refused by the hub too when sent by hand, so a client rule broken to let such an
/// id through fails the first half (the hub's `400` is a service error, not `InvalidJobId`).
#[tokio::test]
async fn the_hub_and_the_client_each_refuse_ids_outside_the_rule() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    let too_long = "x".repeat(65);
    for id in ["a_b", "a.b", "caf\u{e9}", too_long.as_str()] {
        let job = iothub_jobs::TwinUpdateJob::new(id, "deviceId IN ['d1']")
            .with_tags(json!({"site": "b"}).as_object().unwrap().clone());
        let seen_before = hub.requests().len();
        let refused = client.schedule_twin_update(job).await.unwrap_err();
        assert_eq!(
            (refused.kind(), refused.attempts()),
            (&iothub_jobs::ErrorKind::InvalidJobId, 0),
            "{id}: {refused}"
        );
        assert_eq!(hub.requests().len(), seen_before, "{id}: nothing is sent");

        let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let response = reqwest::Client::new()
            .put(support::hub_url(&hub, &format!("/jobs/v2/{encoded}")))
            .header("authorization", support::hub_token(&hub))
            .json(&json!({
                "jobId": id, "type": "scheduleUpdateTwin", "queryCondition": "deviceId IN ['d1']",
                "startTime": start, "maxExecutionTimeInSeconds": 60,
                "updateTwin": {"etag": "*", "tags": {"site": "b"}},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{id}");
        assert_eq!(
            response.headers()["iothub-errorcode"],
            "ArgumentInvalid",
            "{id}"
        );
        assert!(hub.job(id).is_none(), "{id}");
    }
}

/// A page size of 0 is no size: the hub pages by its own limit, as for a missing one, rather
/// than answer an empty page that ends the listing.
#[tokio::test]
async fn a_page_size_of_zero_pages_by_the_hubs_own_limit() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("a");
    hub.schedule_job("b");
    let response = reqwest::Client::new()
        .get(support::hub_url(&hub, "/jobs/v2/query"))
        .header("authorization", support::hub_token(&hub))
        .header("x-ms-max-item-count", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let jobs: Vec<Value> = response.json().await.unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
}
