"""Tests for the presign Lambda (stacks/functions/presign/index.py).

Run from the repository root with only boto3 installed:

    python -m unittest discover -s stacks/functions/presign -p 'test_*.py'

No network is used: presigning is local, with static credentials set in the
environment. Each generated URL's SigV4 signature is recomputed here to prove
which HTTP method it was signed for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import unittest
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import boto3
from botocore.exceptions import NoCredentialsError

HERE = Path(__file__).resolve().parents[2] / "stacks" / "functions" / "presign"


def load_index(name: str = "presign_index"):
    """Import index.py by path under a unique name (other functions have one too)."""
    spec = importlib.util.spec_from_file_location(name, HERE / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


index = load_index()

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
BUCKET = "strata-test-bucket"
ENDPOINT = "http://localhost:4566"

ACTION_ERROR = (
    "action must be one of: abortMultipartUpload, completeMultipartUpload, "
    "createMultipartUpload, getObject, getObjects, putObject, putObjects, uploadPart"
)
EXPIRY_ERROR = (
    "server configuration error: URL_EXPIRY_SECONDS must be an integer between 1 and 604800"
)


def proxy_event(body, method="POST", base64_encoded=False):
    """A minimal API Gateway REST API (Lambda proxy) event."""
    if base64_encoded and body is not None:
        body = base64.b64encode(body.encode("utf-8")).decode("ascii")
    return {
        "resource": "/presign",
        "path": "/presign",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "requestContext": {"httpMethod": method, "stage": "prod"},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def request_body(action="putObject", key="input/file.txt"):
    return json.dumps({"action": action, "object_key": key})


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signature_matches(url: str, method: str, headers: dict | None = None) -> bool:
    """Recompute the SigV4 query signature of `url` for `method`, sent with `headers` (the
    signed ones besides Host, lowercase names); compare it."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    signature = params.pop("X-Amz-Signature")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    signed_headers = params["X-Amz-SignedHeaders"]
    sent = {"host": parts.netloc, **(headers or {})}
    assert signed_headers == ";".join(sorted(sent)), signed_headers
    canonical_headers = "".join(f"{name}:{sent[name]}\n" for name in sorted(sent))
    canonical_request = "\n".join(
        [method, parts.path, canonical_query, canonical_headers, signed_headers,
         "UNSIGNED-PAYLOAD"]
    )
    access_key, scope = params["X-Amz-Credential"].split("/", 1)
    date, region, service, terminator = scope.split("/")
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
         hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = ("AWS4" + SECRET_KEY).encode("utf-8")
    for part in (date, region, service, terminator):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class PresignTestCase(unittest.TestCase):
    """Hermetic environment and a fresh (lazily created) client per test."""

    def setUp(self):
        env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # Keep any local AWS config, profile or metadata service out of it.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "S3_BUCKET": BUCKET,
        }
        # clear=True also drops AWS_ENDPOINT_URL(_S3), AWS_PROFILE, session
        # tokens and URL_EXPIRY_SECONDS inherited from the caller.
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        index._S3_CLIENT = None
        self.addCleanup(setattr, index, "_S3_CLIENT", None)

    def invoke(self, event):
        with self.assertLogs("presign", level="INFO") as logs:
            response = index.handler(event, None)
        # Exactly one log line per request, never carrying the URL or signature.
        self.assertEqual(len(logs.records), 1, logs.output)
        self.last_log = json.loads(logs.records[0].getMessage())
        self.assertNotIn("X-Amz-Signature", logs.output[0])
        self.assertNotIn("http", logs.output[0])
        self.assertEqual(self.last_log["status"], response["statusCode"])
        return response

    def assertOk(self, response):
        self.assertEqual(response["statusCode"], 200, response["body"])
        self.assertEqual(response["headers"], {"Content-Type": "text/plain"})
        self.assertIs(response["isBase64Encoded"], False)
        return response["body"]

    def assertError(self, response, status, message):
        self.assertEqual(response["statusCode"], status, response["body"])
        self.assertEqual(response["headers"]["Content-Type"], "application/json")
        self.assertEqual(json.loads(response["body"]), {"error": message})
        self.assertEqual(self.last_log["outcome"], message)

    def assertPresigned(self, url, key, method, expiry=100, endpoint=None):
        """The URL names BUCKET/key, expires after `expiry`, is signed for `method`."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if endpoint:  # path-style: http://host:port/bucket/key
            endpoint_parts = urlsplit(endpoint)
            self.assertEqual(parts.scheme, endpoint_parts.scheme)
            self.assertEqual(parts.netloc, endpoint_parts.netloc)
            self.assertEqual(unquote(parts.path), f"/{BUCKET}/{key}")
        else:  # virtual-hosted on the regional endpoint: https://bucket.s3.<region>...
            self.assertEqual(parts.scheme, "https")
            self.assertEqual(parts.netloc, f"{BUCKET}.s3.{REGION}.amazonaws.com")
            self.assertEqual(unquote(parts.path), f"/{key}")
        self.assertEqual(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256")
        self.assertEqual(query["X-Amz-Expires"], str(expiry))
        self.assertTrue(query["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/"))
        self.assertIn(f"/{REGION}/s3/aws4_request", query["X-Amz-Credential"])
        other = {"PUT": "GET", "GET": "PUT"}[method]
        self.assertTrue(signature_matches(url, method), f"not signed for {method}")
        self.assertFalse(signature_matches(url, other), f"also valid for {other}")


class SuccessTests(PresignTestCase):
    def test_put_object_via_proxy(self):
        url = self.assertOk(self.invoke(proxy_event(request_body("putObject", "input/a.csv"))))
        self.assertPresigned(url, "input/a.csv", "PUT")
        self.assertEqual(self.last_log["action"], "putObject")
        self.assertEqual(self.last_log["object_key"], "input/a.csv")
        self.assertEqual(self.last_log["outcome"], "presigned PUT URL valid 100s")

    def test_get_object_via_proxy(self):
        url = self.assertOk(self.invoke(proxy_event(request_body("getObject", "input/a.csv"))))
        self.assertPresigned(url, "input/a.csv", "GET")
        self.assertEqual(self.last_log["outcome"], "presigned GET URL valid 100s")

    def test_base64_encoded_body(self):
        event = proxy_event(request_body("getObject", "input/b64.bin"), base64_encoded=True)
        url = self.assertOk(self.invoke(event))
        self.assertPresigned(url, "input/b64.bin", "GET")

    def test_direct_invocation(self):
        for action, method in (("putObject", "PUT"), ("getObject", "GET")):
            with self.subTest(action=action):
                response = self.invoke({"action": action, "object_key": "input/direct.txt"})
                self.assertEqual(set(response), {"statusCode", "headers", "body", "isBase64Encoded"})
                self.assertPresigned(self.assertOk(response), "input/direct.txt", method)

    def test_lowercase_method_and_no_method(self):
        event = proxy_event(request_body(), method="post")
        self.assertOk(self.invoke(event))
        del event["httpMethod"]
        self.assertOk(self.invoke(event))

    def test_keys_with_spaces_and_unicode(self):
        keys = [
            "input/my report 2024.pdf",
            "input/données/résumé ü.txt",
            "input/日本語/ファイル.csv",
            "input/emoji 🚀 + plus & amp=eq?.txt",
            "input/a..b/..hidden/file..",  # '..' inside a segment is fine
            "input/" + "a" * (1024 - len("input/")),  # exactly 1024 bytes
        ]
        for key in keys:
            for action, method in (("putObject", "PUT"), ("getObject", "GET")):
                with self.subTest(key=key, action=action):
                    url = self.assertOk(self.invoke(proxy_event(request_body(action, key))))
                    self.assertPresigned(url, key, method)
                    self.assertEqual(self.last_log["object_key"], key)

    def test_expiry_from_environment(self):
        for value, expected in (("3600", 3600), ("1", 1), ("604800", 604800), (" 60 ", 60)):
            with self.subTest(value=value):
                os.environ["URL_EXPIRY_SECONDS"] = value
                url = self.assertOk(self.invoke(proxy_event(request_body())))
                self.assertPresigned(url, "input/file.txt", "PUT", expiry=expected)

    def test_endpoint_url_uses_path_style(self):
        os.environ["AWS_ENDPOINT_URL"] = ENDPOINT
        for action, method in (("putObject", "PUT"), ("getObject", "GET")):
            with self.subTest(action=action):
                key = "input/dir/with space é.txt"
                url = self.assertOk(self.invoke(proxy_event(request_body(action, key))))
                self.assertTrue(url.startswith(f"{ENDPOINT}/{BUCKET}/input/dir/"), url)
                self.assertPresigned(url, key, method, endpoint=ENDPOINT)


class ChecksumModeTests(PresignTestCase):
    """`"checksum_mode": "ENABLED"` signs a GET URL for the header that makes S3 send its
    checksum; the URL is then valid only with that header, as S3 checks every signed one."""

    CHECKSUM = {"x-amz-checksum-mode": "ENABLED"}

    def test_get_object_signed_for_the_checksum_header(self):
        body = json.dumps({"action": "getObject", "object_key": "input/a.bin",
                           "checksum_mode": "ENABLED"})
        url = self.assertOk(self.invoke(proxy_event(body)))
        query = dict(parse_qsl(urlsplit(url).query))
        self.assertEqual(query["X-Amz-SignedHeaders"], "host;x-amz-checksum-mode")
        self.assertTrue(signature_matches(url, "GET", self.CHECKSUM))
        self.assertFalse(signature_matches(url, "GET", {"x-amz-checksum-mode": "DISABLED"}))
        self.assertFalse(signature_matches(url, "PUT", self.CHECKSUM))

    def test_get_objects_signed_for_the_checksum_header(self):
        keys = ["input/a.bin", "input/b.bin"]
        body = json.dumps({"action": "getObjects", "object_keys": keys, "checksum_mode": "ENABLED"})
        answer = json.loads(self.invoke(proxy_event(body))["body"])
        self.assertEqual([u["object_key"] for u in answer["urls"]], keys)
        for entry in answer["urls"]:
            self.assertTrue(signature_matches(entry["url"], "GET", self.CHECKSUM), entry)

    def test_without_it_only_host_is_signed(self):
        url = self.assertOk(self.invoke(proxy_event(request_body("getObject", "input/a.bin"))))
        self.assertEqual(dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"], "host")

    def test_bad_values_and_put_actions_are_refused(self):
        cases = [
            ({"action": "getObject", "object_key": "input/a", "checksum_mode": "enabled"},
             'checksum_mode must be "ENABLED"'),
            ({"action": "getObjects", "object_keys": ["input/a"], "checksum_mode": True},
             'checksum_mode must be "ENABLED"'),
            ({"action": "putObject", "object_key": "input/a", "checksum_mode": "ENABLED"},
             "checksum_mode is for getObject and getObjects only"),
            ({"action": "putObjects", "object_keys": ["input/a"], "checksum_mode": "ENABLED"},
             "checksum_mode is for getObject and getObjects only"),
        ]
        for request, message in cases:
            with self.subTest(request=request):
                self.assertError(self.invoke(proxy_event(json.dumps(request))), 400, message)


class ClientTests(PresignTestCase):
    def test_client_not_created_at_import(self):
        with mock.patch.object(boto3, "client") as client:
            fresh = load_index("presign_index_fresh")
        client.assert_not_called()
        self.assertIsNone(fresh._S3_CLIENT)

    def test_client_created_once(self):
        with mock.patch.object(index.boto3, "client", wraps=boto3.client) as client:
            for _ in range(3):
                self.assertOk(self.invoke(proxy_event(request_body())))
        client.assert_called_once()
        self.assertIsNotNone(index._S3_CLIENT)

    def test_client_config_with_endpoint(self):
        os.environ["AWS_ENDPOINT_URL"] = ENDPOINT
        with mock.patch.object(index.boto3, "client", wraps=boto3.client) as client:
            self.assertOk(self.invoke(proxy_event(request_body())))
        args, kwargs = client.call_args
        self.assertEqual(args, ("s3",))
        self.assertEqual(kwargs["endpoint_url"], ENDPOINT)
        self.assertEqual(kwargs["config"].signature_version, "s3v4")
        self.assertEqual(kwargs["config"].s3, {"addressing_style": "path"})
        self.assertEqual(kwargs["config"].retries, {"mode": "standard", "total_max_attempts": 3})

    def test_client_config_without_endpoint(self):
        with mock.patch.object(index.boto3, "client", wraps=boto3.client) as client:
            self.assertOk(self.invoke(proxy_event(request_body())))
        args, kwargs = client.call_args
        self.assertEqual(args, ("s3",))
        self.assertNotIn("endpoint_url", kwargs)
        self.assertEqual(kwargs["config"].signature_version, "s3v4")
        self.assertEqual(kwargs["config"].s3, {"addressing_style": "virtual"})
        self.assertEqual(kwargs["config"].retries, {"mode": "standard", "total_max_attempts": 3})


class BadRequestTests(PresignTestCase):
    def assertBadRequest(self, event, message):
        self.assertError(self.invoke(event), 400, message)

    def test_missing_body(self):
        for body in (None, ""):
            with self.subTest(body=body):
                self.assertBadRequest(proxy_event(body), "request body is required")
        event = proxy_event(None)
        del event["body"]
        self.assertBadRequest(event, "request body is required")
        self.assertBadRequest(proxy_event("", base64_encoded=True), "request body is required")
        self.assertBadRequest(None, "request body is required")

    def test_body_not_json(self):
        for body in ("not json", "{", "{'action': 'putObject'}"):
            with self.subTest(body=body):
                self.assertBadRequest(proxy_event(body), "request body is not valid JSON")
        self.assertBadRequest(
            proxy_event("not json", base64_encoded=True), "request body is not valid JSON"
        )

    def test_body_not_object(self):
        for body in ("[]", '["putObject", "input/a"]', '"input/a"', "42", "null", "true"):
            with self.subTest(body=body):
                self.assertBadRequest(proxy_event(body), "request body must be a JSON object")
        for event in (["putObject"], "input/a", 42):
            with self.subTest(event=event):
                self.assertBadRequest(event, "request body must be a JSON object")

    def test_bad_base64(self):
        event = proxy_event("not base64!!", base64_encoded=False)
        event["isBase64Encoded"] = True
        self.assertBadRequest(event, "request body is not valid base64")
        event["body"] = base64.b64encode(b"\xff\xfe{}").decode("ascii")
        self.assertBadRequest(event, "request body is not valid UTF-8")

    def test_unknown_or_missing_action(self):
        for action in ("deleteObject", "PutObject", "", None, 1, ["putObject"]):
            with self.subTest(action=action):
                self.assertBadRequest(proxy_event(request_body(action)), ACTION_ERROR)
        self.assertBadRequest(proxy_event('{"object_key": "input/a"}'), ACTION_ERROR)
        self.assertBadRequest({"object_key": "input/a"}, ACTION_ERROR)

    def test_missing_or_non_string_key(self):
        self.assertBadRequest(proxy_event('{"action": "putObject"}'), "object_key must be a string")
        for key in (None, 5, ["input/a"], {"k": "input/a"}, True):
            with self.subTest(key=key):
                self.assertBadRequest(
                    proxy_event(request_body(key=key)), "object_key must be a string"
                )
        self.assertBadRequest({"action": "getObject"}, "object_key must be a string")

    def test_key_without_input_prefix(self):
        for key in ("output/a.txt", "inputx/a", "Input/a.txt", "input", "", "a/input/b"):
            with self.subTest(key=key):
                self.assertBadRequest(
                    proxy_event(request_body(key=key)), "object_key must start with 'input/'"
                )

    def test_absolute_key(self):
        for key in ("/input/a.txt", "/etc/passwd", "/"):
            with self.subTest(key=key):
                self.assertBadRequest(
                    proxy_event(request_body(key=key)), "object_key must not start with '/'"
                )

    def test_dot_dot_segment(self):
        for key in ("input/../secret", "input/a/../../b", "input/..", "input/a/..",
                    "input/a/../b.txt"):
            with self.subTest(key=key):
                self.assertBadRequest(
                    proxy_event(request_body(key=key)),
                    "object_key must not contain '..' path segments",
                )

    def test_key_too_long(self):
        for key in ("input/" + "a" * 1019, "input/" + "é" * 510):  # 1025 / 1026 bytes
            with self.subTest(length=len(key)):
                self.assertBadRequest(
                    proxy_event(request_body(key=key)),
                    "object_key must be at most 1024 bytes (UTF-8)",
                )

    def test_control_characters(self):
        for char in ("\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9f"):
            with self.subTest(char=repr(char)):
                self.assertBadRequest(
                    proxy_event(request_body(key=f"input/a{char}b.txt")),
                    "object_key must not contain control characters",
                )
                # The log line stays one line even for such keys.
                self.assertEqual(self.last_log["object_key"], f"input/a{char}b.txt")

    def test_lone_surrogate(self):
        self.assertBadRequest(
            proxy_event('{"action": "putObject", "object_key": "input/\\ud800"}'),
            "object_key is not valid Unicode",
        )

    def test_empty_key_after_prefix(self):
        self.assertBadRequest(
            proxy_event(request_body(key="input/")),
            "object_key must name an object under 'input/'",
        )


class MethodTests(PresignTestCase):
    def test_non_post_methods(self):
        for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
            with self.subTest(method=method):
                response = self.invoke(proxy_event(request_body(), method=method))
                self.assertError(response, 405, f"method {method} is not allowed; use POST")
                self.assertEqual(response["headers"]["Allow"], "POST")

    def test_non_post_without_body(self):
        response = self.invoke(proxy_event(None, method="GET"))
        self.assertError(response, 405, "method GET is not allowed; use POST")
        self.assertEqual(response["headers"]["Allow"], "POST")


class ServerErrorTests(PresignTestCase):
    def test_invalid_expiry(self):
        for value in ("0", "604801", "-5", "abc", "1.5", "1e3", "", " ", "1_000", "١٠"):
            with self.subTest(value=value):
                os.environ["URL_EXPIRY_SECONDS"] = value
                self.assertError(self.invoke(proxy_event(request_body())), 500, EXPIRY_ERROR)

    def test_invalid_expiry_direct_invocation(self):
        os.environ["URL_EXPIRY_SECONDS"] = "forever"
        self.assertError(
            self.invoke({"action": "getObject", "object_key": "input/a"}), 500, EXPIRY_ERROR
        )

    def test_missing_bucket(self):
        for value in (None, ""):
            with self.subTest(value=value):
                os.environ.pop("S3_BUCKET", None)
                if value is not None:
                    os.environ["S3_BUCKET"] = value
                self.assertError(
                    self.invoke(proxy_event(request_body())),
                    500,
                    "server configuration error: S3_BUCKET is not set",
                )

    def test_bad_endpoint_url(self):
        os.environ["AWS_ENDPOINT_URL"] = "not a url"
        response = index.handler(proxy_event(request_body()), None)
        self.assertEqual(response["statusCode"], 500)
        self.assertEqual(
            json.loads(response["body"]),
            {"error": "server configuration error: cannot create the S3 client"},
        )

    def test_presign_failure(self):
        client = mock.Mock()
        client.generate_presigned_url.side_effect = NoCredentialsError()
        index._S3_CLIENT = client
        response = self.invoke(proxy_event(request_body()))
        self.assertEqual(response["statusCode"], 500)
        self.assertEqual(response["headers"]["Content-Type"], "application/json")
        self.assertEqual(json.loads(response["body"]), {"error": "could not create a presigned URL"})
        self.assertEqual(
            self.last_log["outcome"], "could not create a presigned URL (NoCredentialsError)"
        )


if __name__ == "__main__":
    unittest.main()


MIB = 1024 * 1024


class MultipartTestCase(PresignTestCase):
    """A real client (so URLs are really signed) whose S3 calls are stubbed."""

    def setUp(self):
        super().setUp()
        from botocore.stub import Stubber

        self.client = index._s3_client()
        self.stub = Stubber(self.client)
        self.stub.activate()
        self.addCleanup(self.stub.deactivate)

    def call(self, **request):
        return self.invoke(proxy_event(json.dumps(request)))

    def assertJson(self, response):
        self.assertEqual(response["statusCode"], 200, response["body"])
        self.assertEqual(response["headers"], {"Content-Type": "application/json"})
        return json.loads(response["body"])

    def assertPartUrl(self, url, key, upload_id, number):
        query = dict(parse_qsl(urlsplit(url).query))
        self.assertEqual(query["uploadId"], upload_id)
        self.assertEqual(query["partNumber"], str(number))
        self.assertEqual(unquote(urlsplit(url).path), f"/{key}")
        self.assertTrue(signature_matches(url, "PUT"), "not signed for PUT")
        self.assertFalse(signature_matches(url, "GET"), "also valid for GET")


class MultipartSuccessTests(MultipartTestCase):
    def test_create_answers_upload_id_and_signed_part_urls(self):
        key = "input/big.bin"
        self.stub.add_response(
            "create_multipart_upload",
            {"UploadId": "up-1", "Bucket": BUCKET, "Key": key},
            {"Bucket": BUCKET, "Key": key, "ContentType": "application/octet-stream"},
        )
        # 40 MiB + 1 byte in 8 MiB parts: 6 parts, the last one byte.
        answer = self.assertJson(
            self.call(action="createMultipartUpload", object_key=key, size=40 * MIB + 1,
                      part_size=8 * MIB)
        )
        self.stub.assert_no_pending_responses()
        self.assertEqual(answer["upload_id"], "up-1")
        self.assertEqual(answer["part_size"], 8 * MIB)
        self.assertEqual(answer["part_count"], 6)
        self.assertEqual(answer["expires_in"], 100)
        self.assertEqual([p["part_number"] for p in answer["parts"]], [1, 2, 3, 4, 5, 6])
        for part in answer["parts"]:
            self.assertPartUrl(part["url"], key, "up-1", part["part_number"])
        self.assertEqual(
            self.last_log["outcome"],
            f"started a multipart upload of {40 * MIB + 1} bytes in 6 parts",
        )

    def test_create_answers_the_first_thousand_urls_and_upload_part_the_rest(self):
        key = "input/huge.bin"
        self.stub.add_response(
            "create_multipart_upload", {"UploadId": "up-2"},
            {"Bucket": BUCKET, "Key": key, "ContentType": "application/octet-stream"},
        )
        size = 5 * 1024 * 1024 * MIB  # 5 TiB exactly, in 10,000 parts
        part_size = -(-size // 10_000)
        answer = self.assertJson(
            self.call(action="createMultipartUpload", object_key=key, size=size,
                      part_size=part_size)
        )
        self.assertEqual(answer["part_count"], 10_000)
        self.assertEqual(len(answer["parts"]), 1000)
        answer = self.assertJson(
            self.call(action="uploadPart", object_key=key, upload_id="up-2",
                      part_numbers=[10_000, 1001])
        )
        self.assertEqual([p["part_number"] for p in answer["parts"]], [10_000, 1001])
        self.assertPartUrl(answer["parts"][0]["url"], key, "up-2", 10_000)
        self.assertEqual(self.last_log["outcome"], "presigned 2 part URL(s) valid 100s")

    def test_complete_passes_the_parts_in_order(self):
        key = "input/big.bin"
        self.stub.add_response(
            "complete_multipart_upload",
            {"ETag": '"abc-2"', "Bucket": BUCKET, "Key": key},
            {"Bucket": BUCKET, "Key": key, "UploadId": "up-1",
             "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"e1"'},
                                           {"PartNumber": 2, "ETag": '"e2"'}]}},
        )
        answer = self.assertJson(
            self.call(action="completeMultipartUpload", object_key=key, upload_id="up-1",
                      parts=[{"part_number": 1, "etag": '"e1"'},
                             {"part_number": 2, "etag": '"e2"'}])
        )
        self.stub.assert_no_pending_responses()
        self.assertEqual(answer, {"object_key": key, "upload_id": "up-1", "etag": '"abc-2"'})

    def test_abort(self):
        key = "input/big.bin"
        self.stub.add_response(
            "abort_multipart_upload", {},
            {"Bucket": BUCKET, "Key": key, "UploadId": "up-1"},
        )
        answer = self.assertJson(
            self.call(action="abortMultipartUpload", object_key=key, upload_id="up-1")
        )
        self.stub.assert_no_pending_responses()
        self.assertEqual(answer, {"object_key": key, "upload_id": "up-1", "aborted": True})
        self.assertEqual(self.last_log["outcome"], "aborted a multipart upload")


class MultipartBadRequestTests(MultipartTestCase):
    """Every bad request is refused before any S3 call (the stub has no responses)."""

    def assertRefused(self, status, message, **request):
        response = self.call(**request)
        self.assertEqual(response["statusCode"], status, response["body"])
        self.assertEqual(json.loads(response["body"]), {"error": message})
        self.stub.assert_no_pending_responses()

    def test_wrong_prefix_for_every_action(self):
        for action in index.MULTIPART_ACTIONS:
            with self.subTest(action=action):
                self.assertRefused(400, "object_key must start with 'input/'", action=action,
                                   object_key="output/x", upload_id="u", size=MIB,
                                   part_size=8 * MIB, part_numbers=[1],
                                   parts=[{"part_number": 1, "etag": "e"}])

    def test_sizes_out_of_range(self):
        start = {"action": "createMultipartUpload", "object_key": "input/x"}
        tib5 = 5 * 1024 * 1024 * MIB
        cases = [
            ({"size": tib5 + 1, "part_size": 1024 * MIB},
             f"size must be between 1 and {tib5} (5 TiB, S3's object size limit)"),
            ({"size": 0, "part_size": 8 * MIB},
             f"size must be between 1 and {tib5} (5 TiB, S3's object size limit)"),
            ({"size": "10", "part_size": 8 * MIB}, "size must be an integer"),
            ({"size": True, "part_size": 8 * MIB}, "size must be an integer"),
            ({"size": 10 * MIB}, "part_size must be an integer"),
            ({"size": 10 * MIB, "part_size": 5 * MIB - 1},
             f"part_size must be between {5 * MIB} and {5 * 1024 * MIB} (5 MiB to 5 GiB, "
             "S3's part size limits)"),
            ({"size": 10 * MIB, "part_size": 5 * 1024 * MIB + 1},
             f"part_size must be between {5 * MIB} and {5 * 1024 * MIB} (5 MiB to 5 GiB, "
             "S3's part size limits)"),
            ({"size": 10_001 * 5 * MIB, "part_size": 5 * MIB},
             f"size {10_001 * 5 * MIB} in parts of {5 * MIB} bytes needs 10001 parts, more "
             f"than S3's 10000: use a part_size of at least {-(-10_001 * 5 * MIB // 10_000)}"),
        ]
        for fields, message in cases:
            with self.subTest(fields=fields):
                self.assertRefused(400, message, **start, **fields)

    def test_part_numbers_out_of_range(self):
        base = {"action": "uploadPart", "object_key": "input/x", "upload_id": "u"}
        for numbers in ([0], [10_001], [1, -1], ["1"], [True], [1.0]):
            with self.subTest(numbers=numbers):
                self.assertRefused(400, "part_numbers must be integers between 1 and 10000",
                                   **base, part_numbers=numbers)
        for numbers in ([], None, 5, list(range(1, 1002))):
            with self.subTest(numbers=numbers):
                self.assertRefused(400, "part_numbers must be a list of 1 to 1000 part numbers",
                                   **base, part_numbers=numbers)

    def test_completed_parts_are_checked(self):
        base = {"action": "completeMultipartUpload", "object_key": "input/x", "upload_id": "u"}
        cases = [
            ([], "parts must be a list of 1 to 10000 parts"),
            ("x", "parts must be a list of 1 to 10000 parts"),
            ([{"part_number": 0, "etag": "e"}], "part numbers must be integers between 1 and 10000"),
            ([{"part_number": 10_001, "etag": "e"}],
             "part numbers must be integers between 1 and 10000"),
            ([{"part_number": 1}], "each part must be an object with part_number and etag"),
            ([{"part_number": 1, "etag": ""}], "each part's etag must be a non-empty string"),
            ([{"part_number": 1, "etag": 5}], "each part's etag must be a non-empty string"),
            ([{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}],
             "parts must be in ascending part_number order, each once"),
            ([{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}],
             "parts must be in ascending part_number order, each once"),
        ]
        for parts, message in cases:
            with self.subTest(parts=parts):
                self.assertRefused(400, message, **base, parts=parts)

    def test_upload_id_is_required(self):
        for action in ("uploadPart", "completeMultipartUpload", "abortMultipartUpload"):
            for upload_id in (None, "", 5, "a\nb", "x" * 1025):
                with self.subTest(action=action, upload_id=upload_id):
                    response = self.call(action=action, object_key="input/x",
                                         upload_id=upload_id)
                    self.assertEqual(response["statusCode"], 400)
                    self.assertIn("upload_id must be", json.loads(response["body"])["error"])


class MultipartS3ErrorTests(MultipartTestCase):
    def s3_error(self, method, code, status, message="m"):
        self.stub.add_client_error(method, service_error_code=code, service_message=message,
                                   http_status_code=status)

    def test_unknown_upload_id_is_404(self):
        for action, method in (("completeMultipartUpload", "complete_multipart_upload"),
                               ("abortMultipartUpload", "abort_multipart_upload")):
            with self.subTest(action=action):
                self.s3_error(method, "NoSuchUpload", 404)
                if action == "completeMultipartUpload":
                    self.s3_error("head_object", "404", 404)  # and the object is absent
                response = self.call(action=action, object_key="input/x", upload_id="nope",
                                     parts=[{"part_number": 1, "etag": "e"}])
                self.assertEqual(response["statusCode"], 404, response["body"])
                self.assertEqual(
                    json.loads(response["body"]),
                    {"error": "no such multipart upload for this key (NoSuchUpload): "
                              "it was completed or aborted, or never started"},
                )
                self.assertTrue(self.last_log["outcome"].endswith("(NoSuchUpload)"), self.last_log)

    def test_other_client_errors_keep_their_status(self):
        self.s3_error("complete_multipart_upload", "InvalidPart", 400, "One or more parts")
        self.s3_error("head_object", "404", 404)
        response = self.call(action="completeMultipartUpload", object_key="input/x",
                             upload_id="u", parts=[{"part_number": 1, "etag": "wrong"}])
        self.assertEqual(response["statusCode"], 400)
        self.assertEqual(json.loads(response["body"]),
                         {"error": "S3 refused CompleteMultipartUpload (InvalidPart): "
                                   "One or more parts"})

    def test_access_denied_is_a_configuration_error_and_5xx_is_502(self):
        self.s3_error("abort_multipart_upload", "AccessDenied", 403)
        response = self.call(action="abortMultipartUpload", object_key="input/x", upload_id="u")
        self.assertEqual(response["statusCode"], 500)
        self.s3_error("create_multipart_upload", "InternalError", 500)
        response = self.call(action="createMultipartUpload", object_key="input/x",
                             size=MIB, part_size=8 * MIB)
        self.assertEqual(response["statusCode"], 502)
        self.assertEqual(json.loads(response["body"]),
                         {"error": "S3 failed CreateMultipartUpload (InternalError)"})


class BatchTests(PresignTestCase):
    def test_put_objects_answers_one_signed_url_per_key(self):
        keys = ["input/a.bin", "input/b c.bin", "input/ü.bin"]
        response = self.invoke(proxy_event(json.dumps({"action": "putObjects", "object_keys": keys})))
        self.assertEqual(response["statusCode"], 200, response["body"])
        self.assertEqual(response["headers"], {"Content-Type": "application/json"})
        answer = json.loads(response["body"])
        self.assertEqual(answer["expires_in"], 100)
        self.assertEqual([u["object_key"] for u in answer["urls"]], keys)
        for entry in answer["urls"]:
            self.assertPresigned(entry["url"], entry["object_key"], "PUT")
        self.assertEqual(self.last_log["outcome"], "presigned 3 PUT URL(s) valid 100s")

    def test_get_objects_answers_get_urls(self):
        keys = ["input/a.bin", "input/b.bin"]
        response = self.invoke(proxy_event(json.dumps({"action": "getObjects", "object_keys": keys})))
        answer = json.loads(response["body"])
        self.assertEqual([u["object_key"] for u in answer["urls"]], keys)
        for entry in answer["urls"]:
            self.assertPresigned(entry["url"], entry["object_key"], "GET")

    def test_put_objects_refuses_bad_lists_and_names_the_bad_key(self):
        cases = [
            (None, "object_keys must be a list of 1 to 100 keys"),
            ([], "object_keys must be a list of 1 to 100 keys"),
            ("input/a", "object_keys must be a list of 1 to 100 keys"),
            ([f"input/{i}" for i in range(101)], "object_keys must be a list of 1 to 100 keys"),
            (["input/a", "output/b"], "object_keys[1]: object_key must start with 'input/'"),
            (["input/a", 5], "object_keys[1]: object_key must be a string"),
        ]
        for action in ("putObjects", "getObjects"):
            for keys, message in cases:
                with self.subTest(action=action, keys=keys):
                    response = self.invoke(
                        proxy_event(json.dumps({"action": action, "object_keys": keys}))
                    )
                    self.assertError(response, 400, message)


class CompletionLookupTests(MultipartTestCase):
    """After any error from CompleteMultipartUpload the object is looked up: the error
    stands only when the key does not hold the object these parts make."""

    KEY = "input/big.bin"
    # Two parts whose MD5s are those of b"hello" and b"world"; their object's ETag is the
    # MD5 of the two digests (computed apart: openssl md5 -binary | md5sum), then "-2".
    PARTS = [{"part_number": 1, "etag": '"5d41402abc4b2a76b9719d911017c592"'},
             {"part_number": 2, "etag": '"7d793037a0760186574b0282f2f435e7"'}]
    ETAG = '"065947336a2f2a95ba8899f3675c3be6-2"'

    def complete_fails(self, code, status):
        self.stub.add_client_error("complete_multipart_upload", service_error_code=code,
                                   service_message="m", http_status_code=status)

    def head(self, etag=ETAG, size=20):
        self.stub.add_response("head_object", {"ETag": etag, "ContentLength": size},
                               {"Bucket": BUCKET, "Key": self.KEY})

    def complete(self, **extra):
        return self.call(action="completeMultipartUpload", object_key=self.KEY,
                         upload_id="up-1", parts=self.PARTS, **extra)

    def test_a_completion_whose_answer_was_lost_is_found(self):
        # The first attempt was carried out, its answer lost; the retry hears NoSuchUpload.
        for code, status, said in (
            ("NoSuchUpload", 404, "no such multipart upload for this key (NoSuchUpload): "
                                  "it was completed or aborted, or never started"),
            ("InternalError", 500, "S3 failed CompleteMultipartUpload (InternalError)"),
        ):
            with self.subTest(code=code):
                self.complete_fails(code, status)
                self.head()
                answer = self.assertJson(self.complete(size=20))
                self.stub.assert_no_pending_responses()
                self.assertEqual(answer, {"object_key": self.KEY, "upload_id": "up-1",
                                          "etag": self.ETAG})
                self.assertEqual(
                    self.last_log["outcome"],
                    f"completed a multipart upload of 2 parts ({said}; the object is there "
                    "with these parts' ETag)",
                )

    def test_the_error_stands_when_the_object_is_absent_or_another(self):
        cases = [
            (lambda: self.stub.add_client_error("head_object", service_error_code="404",
                                                http_status_code=404), {}),
            (lambda: self.head(etag='"0123456789abcdef0123456789abcdef-2"'), {}),
            (lambda: self.head(etag='"065947336a2f2a95ba8899f3675c3be6"'), {}),
            (lambda: self.head(size=21), {"size": 20}),
            (lambda: self.stub.add_client_error("head_object", service_error_code="403",
                                                http_status_code=403), {}),
        ]
        for i, (lookup, extra) in enumerate(cases):
            with self.subTest(case=i):
                self.complete_fails("InternalError", 500)
                lookup()
                response = self.complete(**extra)
                self.stub.assert_no_pending_responses()
                self.assertEqual(response["statusCode"], 502, response["body"])
                self.assertEqual(json.loads(response["body"]),
                                 {"error": "S3 failed CompleteMultipartUpload (InternalError)"})

    def test_no_answer_from_s3_is_504_unless_the_object_is_there(self):
        from botocore.exceptions import ReadTimeoutError

        def no_answer(**_):
            raise ReadTimeoutError(endpoint_url="https://s3")

        with mock.patch.object(self.client, "complete_multipart_upload", side_effect=no_answer):
            self.stub.add_client_error("head_object", service_error_code="404",
                                       http_status_code=404)
            response = self.complete()
            self.assertEqual(response["statusCode"], 504, response["body"])
            self.assertEqual(json.loads(response["body"]), {
                "error": "S3 did not answer CompleteMultipartUpload: it may still complete; "
                         "look the object up"})
            self.assertEqual(self.last_log["outcome"], json.loads(response["body"])["error"]
                             + " (ReadTimeoutError)")
            self.head()
            self.assertEqual(self.assertJson(self.complete())["etag"], self.ETAG)
        self.stub.assert_no_pending_responses()

    def test_the_size_is_checked_when_given(self):
        self.complete_fails("NoSuchUpload", 404)
        self.head(size=20)
        self.assertJson(self.complete(size=20))
        response = self.call(action="completeMultipartUpload", object_key=self.KEY,
                             upload_id="up-1", parts=self.PARTS, size=0)
        self.assertEqual(json.loads(response["body"]),
                         {"error": f"size must be between 1 and {5 * 1024 * 1024 * MIB} "
                                   "(5 TiB, S3's object size limit)"})

    def test_an_answer_without_an_etag_is_not_a_success(self):
        # botocore turns a 200 whose body is an <Error> into a retried 500; an answer that
        # still carries no ETag is not taken for a completion either.
        self.stub.add_response("complete_multipart_upload", {"Bucket": BUCKET, "Key": self.KEY})
        self.stub.add_client_error("head_object", service_error_code="404", http_status_code=404)
        response = self.complete()
        self.assertEqual(response["statusCode"], 502, response["body"])
        self.assertEqual(json.loads(response["body"]),
                         {"error": "S3 answered CompleteMultipartUpload without an ETag"})
        self.stub.add_response("complete_multipart_upload", {"Bucket": BUCKET, "Key": self.KEY})
        self.head()
        self.assertEqual(self.assertJson(self.complete())["etag"], self.ETAG)

    def test_parts_whose_etags_are_not_md5s_are_matched_on_their_count(self):
        parts = [{"part_number": 1, "etag": '"kms-1"'}, {"part_number": 2, "etag": '"kms-2"'}]
        for etag, status in (('"anything-2"', 200), ('"anything-3"', 404)):
            with self.subTest(etag=etag):
                self.complete_fails("NoSuchUpload", 404)
                self.head(etag=etag)
                response = self.call(action="completeMultipartUpload", object_key=self.KEY,
                                     upload_id="up-1", parts=parts)
                self.assertEqual(response["statusCode"], status, response["body"])

    def test_the_combined_etag(self):
        parts = [{"PartNumber": p["part_number"], "ETag": p["etag"]} for p in self.PARTS]
        self.assertEqual(index._multipart_etag(parts), self.ETAG.strip('"'))
        self.assertIsNone(index._multipart_etag([{"PartNumber": 1, "ETag": '"kms"'}]))
