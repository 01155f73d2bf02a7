"""Consumer Lambda: records every payload that lands under ``input/`` in a DynamoDB table.

Invoked by an SQS event source mapping on the queue that receives the content bucket's
S3 event notifications. Each SQS message carries one S3 event (a JSON document with
``Records``); for each ``ObjectCreated`` record the function reads the object, computes
its SHA-256 while streaming it (payloads may be gigabytes: never held in memory), and
puts one item in the table::

    {"object_key": "input/...", "size": N, "sha256": "<hex>", "etag": "...",
     "bucket": "...", "event_time": "..."}

``s3:TestEvent`` messages (S3 sends one when a notification is configured) are consumed
and ignored. A message whose object cannot be read or recorded is reported back as a
batch item failure (the mapping must enable ``ReportBatchItemFailures``), so only that
message returns to the queue, and after ``max_receive_count`` receives it goes to the
dead-letter queue; the other messages of the batch are deleted.

Writing the item is idempotent: the same object recorded twice (SQS delivers at least
once) writes the same item.

Environment:
    TABLE_NAME        the table that gets one item per payload (required).
    AWS_ENDPOINT_URL  optional endpoint (a local emulator); S3 then uses path-style URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config

CHUNK = 1024 * 1024

_clients: dict[str, object] = {}


def client(service: str):
    """One client per service for the life of the execution environment."""
    if service not in _clients:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        config = Config(s3={"addressing_style": "path"}) if endpoint else None
        _clients[service] = boto3.client(service, endpoint_url=endpoint, config=config)
    return _clients[service]


def object_records(body: str) -> list[dict]:
    """The ObjectCreated records of one S3 event message (none for a test event).

    Raises ValueError for a body that is not an S3 event: such a message is a failure,
    not something to drop silently.
    """
    try:
        event = json.loads(body)
    except json.JSONDecodeError as e:
        raise ValueError(f"message body is not JSON: {e}") from e
    if not isinstance(event, dict):
        raise ValueError("message body is not an S3 event")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("message body has no Records")
    out = []
    for record in records:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        out.append(
            {
                "bucket": s3["bucket"]["name"],
                # S3 event keys are URL-encoded with `+` for spaces.
                "key": unquote_plus(s3["object"]["key"]),
                "event_time": record.get("eventTime", ""),
            }
        )
    return out


def digest(bucket: str, key: str) -> dict:
    """Size, SHA-256 and ETag of the object, read in chunks."""
    answer = client("s3").get_object(Bucket=bucket, Key=key)
    sha = hashlib.sha256()
    size = 0
    body = answer["Body"]
    while True:
        chunk = body.read(CHUNK)
        if not chunk:
            break
        sha.update(chunk)
        size += len(chunk)
    expected = answer.get("ContentLength")
    if expected is not None and expected != size:
        raise IOError(f"s3://{bucket}/{key}: read {size} bytes of {expected}")
    return {"size": size, "sha256": sha.hexdigest(), "etag": answer.get("ETag", "").strip('"')}


def record(table: str, found: dict, facts: dict) -> None:
    client("dynamodb").put_item(
        TableName=table,
        Item={
            "object_key": {"S": found["key"]},
            "bucket": {"S": found["bucket"]},
            "size": {"N": str(facts["size"])},
            "sha256": {"S": facts["sha256"]},
            "etag": {"S": facts["etag"]},
            "event_time": {"S": found["event_time"]},
        },
    )


def handler(event, context):
    table = os.environ.get("TABLE_NAME")
    if not table:
        # Every message would fail the same way: fail the invocation, not each message.
        raise RuntimeError("TABLE_NAME is not set")
    failures = []
    for message in event.get("Records", []):
        try:
            for found in object_records(message["body"]):
                record(table, found, digest(found["bucket"], found["key"]))
        except Exception as e:  # noqa: BLE001 - any failure returns the message to the queue
            print(json.dumps({"message_id": message.get("messageId"), "error": str(e)}))
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}
