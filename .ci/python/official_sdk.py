"""Drives the local hub with Microsoft's official Python SDK (azure-iot-hub), as another team's
tests would: `cargo run -p iothub-local-hub` prints a connection string and an endpoint, and
the SDK's generated clients are pointed at the endpoint through `protocol.config.base_url`.
The hub must hold the fleet in fleet.json beside this script and run as an S1 hub
(`iothub-local-hub --devices .ci/python/fleet.json --tier S1 --job-run-time 1 --apply-delay 1`):
the queries and the job's device count are checked against the fleet, and a second active
scheduled job must be refused. Last, a twin update the SDK creates is applied by the hub's
devices (one of them, `"behaviour": "rejects"` in fleet.json, rejects it), and Microsoft's
acknowledgement convention must count exactly the devices that applied it.

usage: python official_sdk.py CONNECTION_STRING ENDPOINT
Exits non-zero, saying which call failed, unless every call answers as the service would.
"""

import datetime
import json
import pathlib
import sys
import time

from azure.iot.hub import IoTHubJobManager, IoTHubRegistryManager
from azure.iot.hub.models import (
    CloudToDeviceMethod,
    JobProperties,
    JobRequest,
    QuerySpecification,
    Twin,
    TwinProperties,
)
from msrest.exceptions import HttpOperationError


def check(what, condition, detail=""):
    if not condition:
        sys.exit(f"official SDK: {what} failed {detail}")
    print(f"official SDK: {what}: ok")


def main(connection_string, endpoint):
    fleet = json.loads((pathlib.Path(__file__).parent / "fleet.json").read_text())
    jobs = IoTHubJobManager.from_connection_string(connection_string)
    jobs.protocol.config.base_url = endpoint

    # Scheduled jobs: create, get, cancel. The job targets the fleet's canary ring.
    canaries = [twin["deviceId"] for twin in fleet if twin["tags"]["ring"] == "canary"]
    request = JobRequest(
        job_id="python-reboot",
        type="scheduleDeviceMethod",
        query_condition="tags.ring = 'canary'",
        start_time=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
        max_execution_time_in_seconds=600,
        cloud_to_device_method=CloudToDeviceMethod(method_name="reboot", payload={"delay": 5}),
    )
    created = jobs.create_scheduled_job("python-reboot", request)
    check("create_scheduled_job", created.status == "scheduled", created.status)
    statistics = created.device_job_statistics
    targeted = statistics.device_count if statistics else None
    check("the scheduled job's device count", targeted == len(canaries), f"{targeted} != {len(canaries)}")
    got = jobs.get_scheduled_job("python-reboot")
    check("get_scheduled_job", got.job_id == "python-reboot" and got.type == "scheduleDeviceMethod")
    # An S1 hub runs one scheduled job at a time: a second is refused until the first ends.
    request.job_id = "python-reboot-2"
    try:
        jobs.create_scheduled_job("python-reboot-2", request)
        check("a second active scheduled job on an S1 hub", False, "answered 200")
    except HttpOperationError as error:
        code = error.response.headers.get("iothub-errorcode")
        check(
            "a second active scheduled job on an S1 hub",
            error.response.status_code == 429 and code == "ThrottlingMaxActiveJobCountExceeded",
            f"{error.response.status_code} {code}",
        )
    cancelled = jobs.cancel_scheduled_job("python-reboot")
    check("cancel_scheduled_job", cancelled.status == "cancelled", cancelled.status)
    again = jobs.create_scheduled_job("python-reboot-2", request)
    check("a scheduled job once the slot is free", again.status == "scheduled", again.status)
    jobs.cancel_scheduled_job("python-reboot-2")
    try:
        jobs.get_scheduled_job("no-such-job")
        check("get_scheduled_job of an unknown id", False, "answered 200")
    except HttpOperationError as error:
        check("get_scheduled_job of an unknown id", error.response.status_code == 404)

    # Import/export jobs: create, get, list, cancel, and the service's answer to a second one.
    export = JobProperties(
        type="export",
        output_blob_container_uri="https://backups.blob.core.windows.net/devices?sv=2024-08-04&sig=c2lnbmF0dXJl",
        exclude_keys_in_export=True,
        storage_authentication_type="keyBased",
    )
    created = jobs.create_import_export_job(export)
    check("create_import_export_job", created.status == "enqueued" and created.job_id, created.status)
    got = jobs.get_import_export_job(created.job_id)
    check("get_import_export_job", got.job_id == created.job_id and got.type == "export")
    listed = jobs.get_import_export_jobs()
    check("get_import_export_jobs", [job.job_id for job in listed] == [created.job_id])
    try:
        jobs.create_import_export_job(export)
        check("a second concurrent import/export job", False, "answered 200")
    except HttpOperationError as error:
        check("a second concurrent import/export job", error.response.status_code == 403)
    jobs.cancel_import_export_job(created.job_id)
    check("cancel_import_export_job", jobs.get_import_export_job(created.job_id).status == "cancelled")

    query_devices(connection_string, endpoint, fleet)
    devices_apply_a_twin_update(jobs, connection_string, endpoint, fleet)


def query_devices(connection_string, endpoint, fleet):
    """The device query (`POST /devices/query`) through the registry manager's query_iot_hub."""
    # Only the HTTP client is used: the registry manager's AMQP client connects on first use.
    registry = IoTHubRegistryManager.from_connection_string(connection_string)
    registry.protocol.config.base_url = endpoint

    # A count is one item the SDK reads as a Twin; the alias lands in its additional_properties.
    canaries = sum(1 for twin in fleet if twin["tags"]["ring"] == "canary")
    counted = registry.query_iot_hub(
        QuerySpecification(query="SELECT COUNT() AS numberOfDevices FROM devices WHERE tags.ring = 'canary'")
    )
    number = (counted.items[0].additional_properties or {}).get("numberOfDevices") if counted.items else None
    check(
        "query_iot_hub of a count",
        counted.type == "Raw" and len(counted.items) == 1 and number == canaries,
        f"type {counted.type}, {number} != {canaries}",
    )

    # A GROUP BY: a row per ring with its count (the local hub pages it as any query; the
    # fleet's few rings fit one page of the SDK's default size).
    rings = {}
    for twin in fleet:
        rings[twin["tags"]["ring"]] = rings.get(twin["tags"]["ring"], 0) + 1
    grouped = registry.query_iot_hub(
        QuerySpecification(query="SELECT tags.ring AS ring, COUNT() AS n FROM devices GROUP BY tags.ring"),
        max_item_count=100,
    )
    answered = {
        (item.additional_properties or {}).get("ring"): (item.additional_properties or {}).get("n")
        for item in grouped.items
    }
    check(
        "query_iot_hub of a GROUP BY",
        answered == rings,
        f"{answered} != {rings}",
    )

    # Twins in pages of 2, following the continuation token to the last page. The fleet's
    # versions are compared as strings, as the service compares them.
    old = sorted(
        twin["deviceId"] for twin in fleet if twin["properties"]["reported"]["firmware"]["version"] < "2.0"
    )
    spec = QuerySpecification(query="SELECT * FROM devices WHERE properties.reported.firmware.version < '2.0'")
    first = registry.query_iot_hub(spec, continuation_token=None, max_item_count=2)
    ids = [twin.device_id for twin in first.items]
    check(
        "query_iot_hub's first page of twins",
        first.type == "Twin" and ids == old[:2] and first.continuation_token,
        f"type {first.type}, {ids} != {old[:2]}, continuation {first.continuation_token!r}",
    )
    reported = first.items[0].properties.reported or {}
    check(
        "a queried twin's tags and reported properties",
        first.items[0].tags == fleet_twin(fleet, ids[0])["tags"]
        and reported.get("firmware") == fleet_twin(fleet, ids[0])["properties"]["reported"]["firmware"],
        f"{first.items[0].tags}, {reported}",
    )
    second = registry.query_iot_hub(spec, continuation_token=first.continuation_token, max_item_count=2)
    ids = [twin.device_id for twin in second.items]
    statuses = [twin.status for twin in second.items]
    expected = [fleet_twin(fleet, id).get("status", "enabled") for id in old[2:4]]
    check(
        "query_iot_hub's second page, by the continuation token",
        ids == old[2:4] and statuses == expected and (second.continuation_token is None) == (len(old) <= 4),
        f"{ids} != {old[2:4]}, statuses {statuses} != {expected}, continuation {second.continuation_token!r}",
    )

    # Outside the query language: 400 in the service's shape.
    try:
        registry.query_iot_hub(QuerySpecification(query="SELECT * FROM devices WHERE"))
        check("query_iot_hub of a malformed query", False, "answered 200")
    except HttpOperationError as error:
        check(
            "query_iot_hub of a malformed query",
            error.response.status_code == 400 and "ArgumentInvalid" in error.response.text,
            f"{error.response.status_code} {error.response.text[:200]}",
        )


APPLIED = (
    "properties.desired.$version = properties.reported.lastDesiredVersion"
    " AND properties.reported.lastDesiredStatus.code = 200"
)
REJECTED = (
    "properties.desired.$version = properties.reported.lastDesiredVersion"
    " AND properties.reported.lastDesiredStatus.code != 200"
)


def devices_apply_a_twin_update(jobs, connection_string, endpoint, fleet):
    """A twin update of the firmware version, created by the SDK, applied by the hub's devices."""
    registry = IoTHubRegistryManager.from_connection_string(connection_string)
    registry.protocol.config.base_url = endpoint
    targeted = [twin for twin in fleet if twin["tags"]["site"] == "lisbon"]
    applying = sorted(twin["deviceId"] for twin in targeted if twin.get("behaviour") != "rejects")
    rejecting = sorted(twin["deviceId"] for twin in targeted if twin.get("behaviour") == "rejects")
    check("the fleet has devices that apply and one that rejects", applying and rejecting)
    request = JobRequest(
        job_id="python-firmware",
        type="scheduleUpdateTwin",
        query_condition="tags.site = 'lisbon'",
        start_time=datetime.datetime.now(datetime.timezone.utc),
        max_execution_time_in_seconds=600,
        update_twin=Twin(etag="*", properties=TwinProperties(desired={"firmware": {"version": "3.0.0"}})),
    )
    jobs.create_scheduled_job("python-firmware", request)
    status = None
    for _ in range(300):
        status = jobs.get_scheduled_job("python-firmware").status
        if status == "completed":
            break
        time.sleep(0.1)
    check("a twin update created by the SDK completes", status == "completed", status)

    def ids(condition):
        spec = QuerySpecification(query=f"SELECT * FROM devices WHERE {condition}")
        found, token = [], None
        for _ in range(10):
            page = registry.query_iot_hub(spec, continuation_token=token, max_item_count=100)
            found.extend(twin.device_id for twin in page.items)
            token = page.continuation_token
            if not token:
                break
        return sorted(found)

    applied = []
    for _ in range(300):
        applied = ids(APPLIED)
        if len(applied) >= len(applying):
            break
        time.sleep(0.1)
    check("the acknowledgement convention selects exactly the devices that applied it", applied == applying,
          f"{applied} != {applying}")
    counted = registry.query_iot_hub(QuerySpecification(query=f"SELECT COUNT() AS n FROM devices WHERE {APPLIED}"))
    number = (counted.items[0].additional_properties or {}).get("n") if counted.items else None
    check("the acknowledgement convention counts them", number == len(applying), f"{number} != {len(applying)}")
    check("a rejection is acknowledged with another code", ids(REJECTED) == rejecting, f"{ids(REJECTED)}")

    versions = {}
    for twin in fleet:
        version = "3.0.0" if twin["deviceId"] in applying else twin["properties"]["reported"]["firmware"]["version"]
        versions[version] = versions.get(version, 0) + 1
    # Every page, by the continuation token: the hub's pages hold 3 items. (The alias is not
    # `version`: the SDK reads each row as a Twin, whose `version` is a number.)
    spec = QuerySpecification(
        query="SELECT properties.reported.firmware.version AS firmware, COUNT() AS n FROM devices"
        " GROUP BY properties.reported.firmware.version"
    )
    rows, token = [], None
    for _ in range(10):
        page = registry.query_iot_hub(spec, continuation_token=token, max_item_count=100)
        rows.extend(page.items)
        token = page.continuation_token
        if not token:
            break
    answered = {
        (item.additional_properties or {}).get("firmware"): (item.additional_properties or {}).get("n")
        for item in rows
    }
    check("query_iot_hub of a GROUP BY of a reported property", answered == versions, f"{answered} != {versions}")


def fleet_twin(fleet, device_id):
    return next(twin for twin in fleet if twin["deviceId"] == device_id)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
