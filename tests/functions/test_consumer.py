"""Tests for the consumer Lambda (stacks/functions/consumer/index.py).

No network: the S3 and DynamoDB clients are stubbed with botocore's Stubber, so each
test states exactly the calls the function makes and what it writes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import unittest
from pathlib import Path
from unittest import mock

import boto3
from botocore.response import StreamingBody
from botocore.stub import Stubber

HERE = Path(__file__).resolve().parents[2] / "stacks" / "functions" / "consumer"


def load_index():
    spec = importlib.util.spec_from_file_location("consumer_index", HERE / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


index = load_index()

ENV = {"TABLE_NAME": "payloads"}

# A session of its own: boto3's default session would keep these credentials for every
# test module that runs after this one.
SESSION = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1"
)


def s3_event(key: str, name: str = "ObjectCreated:Put") -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": name,
                    "eventTime": "2026-12-05T06:00:00.000Z",
                    "s3": {"bucket": {"name": "content"}, "object": {"key": key, "size": 3}},
                }
            ]
        }
    )


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


class ConsumerTest(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.dict(os.environ, ENV, clear=False)
        patcher.start()
        self.addCleanup(patcher.stop)
        index._clients.clear()
        self.s3 = SESSION.client("s3")
        self.ddb = SESSION.client("dynamodb")
        index._clients.update({"s3": self.s3, "dynamodb": self.ddb})
        self.s3_stub = Stubber(self.s3)
        self.ddb_stub = Stubber(self.ddb)
        self.s3_stub.activate()
        self.ddb_stub.activate()

    def tearDown(self):
        self.s3_stub.deactivate()
        self.ddb_stub.deactivate()

    def expect_object(self, key: str, data: bytes):
        self.s3_stub.add_response(
            "get_object",
            {"Body": body(data), "ContentLength": len(data), "ETag": '"abc"'},
            {"Bucket": "content", "Key": key},
        )

    def expect_item(self, key: str, data: bytes):
        self.ddb_stub.add_response(
            "put_item",
            {},
            {
                "TableName": "payloads",
                "Item": {
                    "object_key": {"S": key},
                    "bucket": {"S": "content"},
                    "size": {"N": str(len(data))},
                    "sha256": {"S": hashlib.sha256(data).hexdigest()},
                    "etag": {"S": "abc"},
                    "event_time": {"S": "2026-12-05T06:00:00.000Z"},
                },
            },
        )

    def test_each_created_object_is_recorded_with_its_size_and_sha256(self):
        self.expect_object("input/a b.bin", b"one")
        self.expect_item("input/a b.bin", b"one")
        self.expect_object("input/c", b"second payload")
        self.expect_item("input/c", b"second payload")
        event = {
            "Records": [
                {"messageId": "m1", "body": s3_event("input/a+b.bin")},
                {"messageId": "m2", "body": s3_event("input/c")},
            ]
        }
        self.assertEqual(index.handler(event, None), {"batchItemFailures": []})
        self.s3_stub.assert_no_pending_responses()
        self.ddb_stub.assert_no_pending_responses()

    def test_a_test_event_and_other_event_kinds_are_consumed_without_a_call(self):
        event = {
            "Records": [
                {"messageId": "t", "body": json.dumps({"Event": "s3:TestEvent"})},
                {"messageId": "r", "body": s3_event("input/x", "ObjectRemoved:Delete")},
            ]
        }
        self.assertEqual(index.handler(event, None), {"batchItemFailures": []})

    def test_only_the_failing_message_returns_to_the_queue(self):
        self.s3_stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        self.expect_object("input/ok", b"fine")
        self.expect_item("input/ok", b"fine")
        event = {
            "Records": [
                {"messageId": "gone", "body": s3_event("input/gone")},
                {"messageId": "bad", "body": "not json"},
                {"messageId": "ok", "body": s3_event("input/ok")},
            ]
        }
        self.assertEqual(
            index.handler(event, None),
            {"batchItemFailures": [{"itemIdentifier": "gone"}, {"itemIdentifier": "bad"}]},
        )
        self.ddb_stub.assert_no_pending_responses()

    def test_a_short_read_is_a_failure_not_a_wrong_digest(self):
        self.s3_stub.add_response(
            "get_object",
            {"Body": body(b"ab"), "ContentLength": 5, "ETag": '"abc"'},
            {"Bucket": "content", "Key": "input/short"},
        )
        event = {"Records": [{"messageId": "s", "body": s3_event("input/short")}]}
        self.assertEqual(
            index.handler(event, None), {"batchItemFailures": [{"itemIdentifier": "s"}]}
        )

    def test_without_a_table_the_whole_invocation_fails(self):
        with mock.patch.dict(os.environ, {"TABLE_NAME": ""}):
            with self.assertRaisesRegex(RuntimeError, "TABLE_NAME"):
                index.handler({"Records": []}, None)


if __name__ == "__main__":
    unittest.main()
