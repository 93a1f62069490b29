//! The client against the local hub, over real HTTP on loopback.

use std::{sync::Arc, time::Duration};

use iothub_jobs::{
    API_VERSION, ErrorKind, JobsClient,
    auth::SasTokenCredential,
    models::{JobStatus, JobType},
};
use iothub_local_hub::LocalHub;
use serde_json::{Value, json};

use crate::support::HubClient as _;
use crate::{secret_forms, support};

#[tokio::test]
async fn cancels_a_scheduled_job() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("rollout-1");
    let job = hub.client().unwrap().cancel_job("rollout-1").await.unwrap();
    assert_eq!(job.job_id.as_deref(), Some("rollout-1"));
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    assert_eq!(job.type_, Some(JobType::ScheduleUpdateTwin));
    assert_eq!(hub.job("rollout-1").unwrap()["status"], "cancelled");
}

#[tokio::test]
async fn an_unknown_job_is_not_found_with_the_service_details() {
    let hub = LocalHub::start().await.unwrap();
    let error = hub.client().unwrap().cancel_job("nope").await.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Service);
    assert!(error.is_not_found() && !error.is_transient());
    assert_eq!(error.code(), Some("JobNotFound"));
    let service = error.service_error().unwrap();
    assert_eq!(
        service.message.as_deref(),
        Some("Job with id 'nope' not found")
    );
    let tracking = service.tracking_id.as_deref().unwrap();
    assert_eq!(tracking.len(), 32 + "-G:0".len(), "{tracking}");
    let sent = hub.requests()[0]
        .header("x-ms-client-request-id")
        .unwrap()
        .to_owned();
    assert_eq!(error.request_id(), Some(sent.as_str()));
    let shown = error.to_string();
    assert!(
        shown.contains("404 JobNotFound")
            && shown.contains(&sent)
            && shown.contains("check the job id"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_running_job_cannot_be_cancelled() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(
        json!({"jobId": "busy", "type": "scheduleDeviceMethod", "status": "running"}),
    );
    let error = hub.client().unwrap().cancel_job("busy").await.unwrap_err();
    assert_eq!(error.status(), Some(400));
    assert!(error.is_operation_not_allowed(), "{error}");
    assert_eq!(hub.job("busy").unwrap()["status"], "running");
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_never_shown() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let wrong_key = "d3Jvbmcta2V5LW1hdGVyaWFs";
    let client = support::client_with_key(&hub, wrong_key);
    let error = client.cancel_job("j").await.unwrap_err();
    assert!(error.is_unauthorized(), "{error}");
    assert_eq!(error.code(), Some("IotHubUnauthorizedAccess"));
    let shown = format!("{error} {error:?} {client:?}");
    secret_forms::assert_hidden(&shown, wrong_key);
    let sent = hub.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    secret_forms::assert_hidden(&shown, &sent);
    secret_forms::assert_hidden(
        &shown,
        sent.split("sig=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    );
    assert_eq!(hub.job("j").unwrap()["status"], "scheduled");
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_the_service_would_refuse_it() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("a");
    hub.schedule_job("b");
    let options = hub
        .client_options()
        .with_sas_token_lifetime(Duration::from_secs(2));
    let client =
        JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap();
    client.cancel_job("a").await.unwrap();
    // Long enough for the first token to expire on the hub's clock.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.cancel_job("b").await.unwrap();
    let tokens: Vec<_> = hub
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_ne!(tokens[0], tokens[1]);
}

fn token(hub: &LocalHub, key_name: &str, expiry: u64) -> String {
    support::mint_token(hub.host_name(), key_name, &hub.policy_key(), expiry)
}

#[tokio::test]
async fn a_ready_made_token_is_sent_as_given_and_checked_by_the_hub() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let client_with = |token: String| {
        let credential = Arc::new(SasTokenCredential::new(&token).unwrap());
        JobsClient::new(hub.host_name(), credential, hub.client_options()).unwrap()
    };
    let expired = client_with(token(&hub, "iothubowner", support::unix_now() - 10))
        .cancel_job("j")
        .await
        .unwrap_err();
    assert!(
        expired.is_unauthorized() && expired.to_string().contains("expired"),
        "{expired}"
    );
    let wrong_policy = client_with(token(&hub, "registryRead", support::unix_now() + 600))
        .cancel_job("j")
        .await
        .unwrap_err();
    assert!(
        wrong_policy
            .to_string()
            .contains("unknown shared access policy"),
        "{wrong_policy}"
    );
    let good = token(&hub, "iothubowner", support::unix_now() + 600);
    let tampered = good.replace(
        &format!("sr={}", hub.host_name()),
        "sr=otherhub.azure-devices.net",
    );
    let error = client_with(tampered).cancel_job("j").await.unwrap_err();
    assert!(error.to_string().contains("another resource"), "{error}");
    client_with(good.clone()).cancel_job("j").await.unwrap();
    assert_eq!(
        hub.requests().last().unwrap().header("authorization"),
        Some(good.as_str())
    );

    // The same token through the connection-string form.
    hub.schedule_job("k");
    let connection_string = format!("HostName={};SharedAccessSignature={good}", hub.host_name());
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, hub.client_options())
            .unwrap();
    client.cancel_job("k").await.unwrap();
}

#[tokio::test]
async fn every_request_carries_the_headers_the_service_needs() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("Ab-9");
    hub.schedule_job("z");
    let client = hub.client().unwrap();
    client.cancel_job("Ab-9").await.unwrap();
    client.cancel_job("z").await.unwrap();
    let requests = hub.requests();
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/jobs/v2/Ab-9/cancel");
    assert_eq!(
        first.query.as_deref(),
        Some(format!("api-version={API_VERSION}").as_str())
    );
    assert_eq!(API_VERSION, "2021-04-12");
    assert_eq!(first.header("content-length"), Some("0"));
    assert!(first.body.is_empty());
    assert_eq!(first.header("accept"), Some("application/json"));
    assert_eq!(
        first.header("api-version"),
        None,
        "the api-version goes in the query only"
    );
    let user_agent = first.header("user-agent").unwrap();
    assert!(
        user_agent.starts_with(&format!("iothub-jobs/{}", env!("CARGO_PKG_VERSION"))),
        "{user_agent}"
    );
    let authorization = first.header("authorization").unwrap();
    let fields = authorization
        .strip_prefix("SharedAccessSignature ")
        .unwrap();
    let names: Vec<_> = fields
        .split('&')
        .map(|f| f.split_once('=').unwrap().0)
        .collect();
    assert_eq!(names, ["sr", "sig", "se", "skn"]);
    assert!(fields.starts_with(&format!("sr={}&", hub.host_name())));
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("x-ms-client-request-id").unwrap())
        .collect();
    assert!(uuid::Uuid::parse_str(ids[0]).is_ok(), "{}", ids[0]);
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn invalid_job_ids_are_refused_before_anything_is_sent() {
    let hub = LocalHub::start().await.unwrap();
    let client = hub.client().unwrap();
    let too_long = "x".repeat(65);
    for id in [
        "..",
        "a\\b",
        "a/b?x=1",
        "",
        too_long.as_str(),
        "jöb",
        "%2e%2e",
        // `GET /jobs/v2/query` lists jobs: a job with this id could never be read.
        "query",
        "QUERY",
    ] {
        let error = client.cancel_job(id).await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidJobId, "{id}");
    }
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
}

#[tokio::test]
async fn values_the_crate_does_not_know_survive_the_round_trip() {
    let hub = LocalHub::start().await.unwrap();
    let served = json!({
        "jobId": "future",
        "status": "cancelling",
        "type": "exportDevicesV3",
        "someFieldFromANewerApi": {"x": 1},
        "updateTwin": {"status": "suspended", "connectionState": "Hibernating", "authenticationType": "entra"}
    });
    hub.insert_job_json(served);
    let job = hub.client().unwrap().cancel_job("future").await.unwrap();
    assert_eq!(
        job.status,
        Some(JobStatus::UnknownValue("cancelling".into()))
    );
    assert_eq!(
        job.type_,
        Some(JobType::UnknownValue("exportDevicesV3".into()))
    );
    let written = serde_json::to_value(&job).unwrap();
    assert_eq!(written["status"], "cancelling");
    assert_eq!(written["type"], "exportDevicesV3");
    assert_eq!(
        written["updateTwin"],
        json!({"status": "suspended", "connectionState": "Hibernating", "authenticationType": "entra"})
    );
    assert!(written.get("someFieldFromANewerApi").is_none());
}

#[tokio::test]
async fn timestamps_are_read_leniently() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(json!({
        "jobId": "t",
        "status": "scheduled",
        "createdTime": "0001-01-01T00:00:00",
        "startTime": "2126-11-26T05:28:52.1234567Z",
        "endTime": "2026-11-26T06:28:52+01:00",
        "updateTwin": {"statusUpdateTime": "2026-11-26T05:28:52.123456789Z", "lastActivityTime": "2026-11-26T05:28:52.5"}
    }));
    let job = hub.client().unwrap().cancel_job("t").await.unwrap();
    let written = serde_json::to_value(&job).unwrap();
    assert_eq!(written["createdTime"], "0001-01-01T00:00:00Z");
    assert_eq!(written["startTime"], "2126-11-26T05:28:52.123456700Z");
    assert_eq!(written["endTime"], "2026-11-26T05:28:52Z");
    assert_eq!(
        written["updateTwin"]["statusUpdateTime"],
        "2026-11-26T05:28:52.123456789Z"
    );
    assert_eq!(
        written["updateTwin"]["lastActivityTime"],
        "2026-11-26T05:28:52.500Z"
    );
}

#[tokio::test]
async fn null_objects_and_maps_read_as_absent() {
    let hub = LocalHub::start().await.unwrap();
    hub.insert_job_json(json!({
        "jobId": "n",
        "status": "queued",
        "cloudToDeviceMethod": {"methodName": "reboot", "payload": null},
        "deviceJobStatistics": null,
        "endTime": null,
        "updateTwin": {
            "tags": null,
            "parentScopes": null,
            "properties": {"desired": null, "reported": {"$version": 4, "fw": "1.2"}},
            "x509Thumbprint": null
        }
    }));
    let job = hub.client().unwrap().cancel_job("n").await.unwrap();
    assert_eq!(job.status, Some(JobStatus::Cancelled));
    let twin = job.update_twin.as_ref().unwrap();
    assert_eq!(twin.tags, None);
    assert_eq!(twin.parent_scopes, None);
    let properties = twin.properties.as_ref().unwrap();
    assert_eq!(properties.desired, None);
    assert_eq!(properties.reported.as_ref().unwrap()["$version"], 4);
    assert_eq!(job.cloud_to_device_method.as_ref().unwrap().payload, None);
    let written: Value = serde_json::to_value(&job).unwrap();
    assert_eq!(
        written["updateTwin"],
        json!({"properties": {"reported": {"$version": 4, "fw": "1.2"}}})
    );
}

#[tokio::test]
async fn the_hub_answers_411_to_a_post_without_a_length() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    // Written by hand: reqwest adds no length to an empty POST, which is the bug the client avoids.
    let response = reqwest::Client::new()
        .post(support::hub_url(&hub, "/jobs/v2/j/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 411);
    assert!(response.text().await.unwrap().contains("Length Required"));
    assert_eq!(hub.job("j").unwrap()["status"], "scheduled");
}

#[tokio::test]
async fn the_hub_requires_an_api_version() {
    let hub = LocalHub::start().await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/jobs/v2/j/cancel", hub.endpoint()))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["iothub-errorcode"],
        "InvalidProtocolVersion"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let endpoint = {
        let hub = LocalHub::start().await.unwrap();
        hub.endpoint()
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = JobsClient::from_connection_string_with_options(
        "HostName=h.azure-devices.net;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
        iothub_jobs::JobsClientOptions::default().with_endpoint(endpoint),
    )
    .unwrap();
    let error = client.cancel_job("j").await.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Transport, "{error}");
    assert!(error.is_transient() && error.request_id().is_some());
}

#[tokio::test]
async fn a_404_from_a_wrong_endpoint_is_not_a_missing_job() {
    let hub = LocalHub::start().await.unwrap();
    hub.schedule_job("j");
    let options = hub
        .client_options()
        .with_endpoint(format!("{}/wrong-prefix", hub.endpoint()));
    let client =
        JobsClient::from_connection_string_with_options(&hub.connection_string(), options).unwrap();
    let error = client.get_job("j").await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(404), Some("NotFound"))
    );
    assert!(!error.is_not_found(), "the job is there: {error}");
    assert!(error.to_string().contains("with_endpoint"), "{error}");
}

#[test]
fn requests_go_over_https_to_the_hub_unless_overridden() {
    let client = JobsClient::from_connection_string(
        "HostName=myhub.azure-devices.us;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
    )
    .unwrap();
    assert_eq!(client.endpoint(), "https://myhub.azure-devices.us");
    assert_eq!(client.host_name(), "myhub.azure-devices.us");
    let plain_remote = JobsClient::from_connection_string_with_options(
        "HostName=myhub.azure-devices.us;SharedAccessKeyName=p;SharedAccessKey=cGFzc3dvcmQ=",
        iothub_jobs::JobsClientOptions::default().with_endpoint("http://myhub.azure-devices.us"),
    )
    .unwrap_err();
    assert_eq!(plain_remote.kind(), &ErrorKind::InvalidConfiguration);
    assert!(
        plain_remote.to_string().contains("loopback"),
        "{plain_remote}"
    );
}
