"""Drives the local hub with Microsoft's official Python SDK (azure-iot-hub), as another team's
tests would: `cargo run --example local_hub` prints a connection string and an endpoint, and
the SDK's generated client is pointed at the endpoint through `protocol.config.base_url`.

usage: python official_sdk.py CONNECTION_STRING ENDPOINT
Exits non-zero, saying which call failed, unless every call answers as the service would.
"""

import datetime
import sys

from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import CloudToDeviceMethod, JobProperties, JobRequest
from msrest.exceptions import HttpOperationError


def check(what, condition, detail=""):
    if not condition:
        sys.exit(f"official SDK: {what} failed {detail}")
    print(f"official SDK: {what}: ok")


def main(connection_string, endpoint):
    jobs = IoTHubJobManager.from_connection_string(connection_string)
    jobs.protocol.config.base_url = endpoint

    # Scheduled jobs: create, get, cancel.
    request = JobRequest(
        job_id="python-reboot",
        type="scheduleDeviceMethod",
        query_condition="deviceId IN ['d1', 'd2']",
        start_time=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
        max_execution_time_in_seconds=600,
        cloud_to_device_method=CloudToDeviceMethod(method_name="reboot", payload={"delay": 5}),
    )
    created = jobs.create_scheduled_job("python-reboot", request)
    check("create_scheduled_job", created.status == "scheduled", created.status)
    got = jobs.get_scheduled_job("python-reboot")
    check("get_scheduled_job", got.job_id == "python-reboot" and got.type == "scheduleDeviceMethod")
    cancelled = jobs.cancel_scheduled_job("python-reboot")
    check("cancel_scheduled_job", cancelled.status == "cancelled", cancelled.status)
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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
