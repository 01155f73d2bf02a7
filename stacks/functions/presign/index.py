"""Presign Lambda: hands out short-lived S3 URLs for objects under ``input/``.

Invoked either through an API Gateway REST API (Lambda proxy integration) or
directly with the request object as the event. The request is a JSON object::

    {"action": "putObject" | "getObject", "object_key": "input/..."}

A valid request answers 200 with the presigned URL as a ``text/plain`` body. A GET
request may add ``"checksum_mode": "ENABLED"``: the URL is then signed for the
``x-amz-checksum-mode: ENABLED`` header, which the download must send, and S3 answers
a whole-object GET with its checksum of the object (``x-amz-checksum-crc64nvme``...).

Many small payloads take one request for their URLs::

    {"action": "putObjects" | "getObjects", "object_keys": ["input/...", ...]}  (1 to 100)
        -> {"expires_in", "urls": [{"object_key", "url"}, ...]}   (application/json)

(``getObjects`` takes ``checksum_mode`` too.)

Payloads over S3's 5 GB single-PUT limit go up in parts (multipart upload); every
multipart action answers 200 with a JSON object::

    {"action": "createMultipartUpload", "object_key": K, "size": N, "part_size": P}
        -> {"upload_id", "part_size", "part_count", "expires_in",
            "parts": [{"part_number", "url"}, ...]}   (PUT URLs, the first 1000 parts)
    {"action": "uploadPart", "object_key": K, "upload_id": U, "part_numbers": [n, ...]}
        -> {"upload_id", "expires_in", "parts": [...]}  (fresh URLs, 1000 at most)
    {"action": "completeMultipartUpload", "object_key": K, "upload_id": U,
     "parts": [{"part_number": n, "etag": E}, ...], "size": N (optional)}
        -> {"object_key", "upload_id", "etag"}
    {"action": "abortMultipartUpload", "object_key": K, "upload_id": U}
        -> {"object_key", "upload_id", "aborted": true}

Sizes follow S3's limits: an object of at most 5 TiB, parts of 5 MiB to 5 GiB (the
last may be smaller), at most 10,000 parts. Complete and abort are S3 calls made by
the function: S3's client errors keep their 4xx status (an unknown upload id is 404
NoSuchUpload), S3 being unavailable answers 502.

CompleteMultipartUpload can fail after S3 carried it out: its answer lost and the retry
told NoSuchUpload (S3 forgets a completed upload), or a 200 whose body is an error
(botocore retries those as 500s). So after any error from it, the function looks the
object up, and answers success when the key holds the object these parts make: the
ETag S3 gives a multipart object (the MD5 of the parts' MD5s, then ``-`` and the number
of parts) and, when the request gives it, the size. When S3 gave no answer at all (the
connection lost or timed out) and the object is not there yet, it answers 504: the
completion may still be under way, and the caller should look the object up for a while
before it aborts.

A bad request answers 400, a non-POST method 405 (with ``Allow: POST``) and a
misconfigured function 500; every error body is ``{"error": "<message>"}``.

Environment:
    S3_BUCKET           bucket the URLs point at (required).
    URL_EXPIRY_SECONDS  URL lifetime, an integer in 1..604800 (default 100).
    AWS_ENDPOINT_URL    optional S3 endpoint (e.g. a local emulator); when set
                        the client uses it with path-style addressing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import unicodedata
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOGGER = logging.getLogger("presign")
LOGGER.setLevel(logging.INFO)

# Public action name -> (boto3 client method, HTTP method the URL is signed for).
ACTIONS = {
    "getObject": ("get_object", "GET"),
    "putObject": ("put_object", "PUT"),
}
# Many payloads at once: one request for up to MAX_BATCH_KEYS presigned URLs.
BATCH_ACTIONS = {"putObjects": "putObject", "getObjects": "getObject"}
MAX_BATCH_KEYS = 100
MULTIPART_ACTIONS = (
    "abortMultipartUpload",
    "completeMultipartUpload",
    "createMultipartUpload",
    "uploadPart",
)
ALL_ACTIONS = sorted([*ACTIONS, *BATCH_ACTIONS, *MULTIPART_ACTIONS])
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MIB  # 5 TiB
MAX_URLS_PER_ANSWER = 1000  # keeps an answer far below Lambda's 6 MB response limit
MAX_UPLOAD_ID_CHARS = 1024
MAX_ETAG_CHARS = 1024
KEY_PREFIX = "input/"
MAX_KEY_BYTES = 1024  # S3's own limit on key length, in UTF-8 bytes.
DEFAULT_EXPIRY_SECONDS = 100
MAX_EXPIRY_SECONDS = 604800  # 7 days, the SigV4 maximum.

# ASCII digits only: int() alone would also accept "1_000" or non-ASCII digits.
_EXPIRY_RE = re.compile(r"[0-9]+")

# Created on first use and then reused by every invocation of this container.
_S3_CLIENT = None


class RequestError(Exception):
    """A problem that maps to an HTTP error response."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _s3_client():
    """Return the module-wide S3 client, creating it on the first call."""
    global _S3_CLIENT
    if _S3_CLIENT is None:
        kwargs: dict[str, Any] = {}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region_name"] = region
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            # Emulators serve every bucket on one host, so use path-style URLs.
            kwargs["endpoint_url"] = endpoint
            kwargs["config"] = Config(
                signature_version="s3v4", s3={"addressing_style": "path"}
            )
        else:
            # Explicit "virtual" yields the regional bucket host
            # (bucket.s3.<region>.amazonaws.com); the default style presigns
            # against the global s3.amazonaws.com, which answers 307 redirects
            # for buckets outside us-east-1 until DNS catches up.
            kwargs["config"] = Config(
                signature_version="s3v4", s3={"addressing_style": "virtual"}
            )
        # Standard retries (3 attempts, short backoff) instead of the legacy mode's 5: a
        # completion that keeps failing is answered within API Gateway's 29 s, and the
        # caller can retry it.
        kwargs["config"] = kwargs["config"].merge(
            Config(retries={"mode": "standard", "total_max_attempts": 3})
        )
        _S3_CLIENT = boto3.client("s3", **kwargs)
    return _S3_CLIENT


def _response(status: int, body: str, content_type: str, headers: dict | None = None) -> dict:
    all_headers = {"Content-Type": content_type}
    all_headers.update(headers or {})
    return {
        "statusCode": status,
        "headers": all_headers,
        "body": body,
        "isBase64Encoded": False,
    }


def _error_response(status: int, message: str, headers: dict | None = None) -> dict:
    return _response(status, json.dumps({"error": message}), "application/json", headers)


def _is_proxy_event(event: Any) -> bool:
    return isinstance(event, dict) and (
        "httpMethod" in event or "requestContext" in event or "body" in event
    )


def _http_method(event: dict) -> str | None:
    method = event.get("httpMethod")
    if method is None:
        # HTTP API (payload v2) events carry the method here instead.
        http = (event.get("requestContext") or {}).get("http")
        method = http.get("method") if isinstance(http, dict) else None
    return method if isinstance(method, str) else None


def _parse_request(event: Any) -> dict:
    """Extract the request object from a proxy event or a direct invocation."""
    if event is None:
        raise RequestError(400, "request body is required")
    if not _is_proxy_event(event):
        if not isinstance(event, dict):
            raise RequestError(400, "request body must be a JSON object")
        return event  # Direct invocation: the event is the request.

    method = _http_method(event)
    if method is not None and method.upper() != "POST":
        raise RequestError(405, f"method {method} is not allowed; use POST", {"Allow": "POST"})

    body = event.get("body")
    if body is None or body == "":
        raise RequestError(400, "request body is required")
    if not isinstance(body, str):
        raise RequestError(400, "request body must be a JSON object")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "request body is not valid base64") from None
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError(400, "request body is not valid UTF-8") from None
        if body == "":
            raise RequestError(400, "request body is required")
    try:
        request = json.loads(body)
    except ValueError:
        raise RequestError(400, "request body is not valid JSON") from None
    if not isinstance(request, dict):
        raise RequestError(400, "request body must be a JSON object")
    return request


def _validate_action(action: Any) -> str:
    if not isinstance(action, str) or action not in ALL_ACTIONS:
        raise RequestError(400, "action must be one of: " + ", ".join(ALL_ACTIONS))
    return action


def _int_field(request: dict, name: str, low: int, high: int, what: str = "") -> int:
    value = request.get(name)
    # bool is an int subclass: `true` is not a size.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RequestError(400, f"{name} must be an integer")
    if not low <= value <= high:
        raise RequestError(400, f"{name} must be between {low} and {high}{what}")
    return value


def _validate_keys(value: Any) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH_KEYS:
        raise RequestError(400, f"object_keys must be a list of 1 to {MAX_BATCH_KEYS} keys")
    keys = []
    for i, key in enumerate(value):
        try:
            keys.append(_validate_key(key))
        except RequestError as exc:
            raise RequestError(exc.status, f"object_keys[{i}]: {exc.message}") from None
    return keys


def _get_params(action: str, request: dict) -> dict:
    """Parameters a URL is signed with besides the bucket and key: ``ChecksumMode`` for a
    GET that asks for S3's checksum."""
    value = request.get("checksum_mode")
    if value is None:
        return {}
    if action not in ("getObject", "getObjects"):
        raise RequestError(400, "checksum_mode is for getObject and getObjects only")
    if value != "ENABLED":
        raise RequestError(400, 'checksum_mode must be "ENABLED"')
    return {"ChecksumMode": "ENABLED"}


def _validate_upload_id(value: Any) -> str:
    if not isinstance(value, str) or value == "":
        raise RequestError(400, "upload_id must be a non-empty string")
    if len(value) > MAX_UPLOAD_ID_CHARS or any(
        unicodedata.category(ch) == "Cc" for ch in value
    ):
        raise RequestError(
            400, f"upload_id must be at most {MAX_UPLOAD_ID_CHARS} characters, none of them control characters"
        )
    return value


def _validate_part_number(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PARTS:
        raise RequestError(400, f"{field} must be integers between 1 and {MAX_PARTS}")
    return value


def _validate_sizes(request: dict) -> tuple[int, int, int]:
    """(size, part_size, part_count) within S3's multipart limits."""
    size = _int_field(request, "size", 1, MAX_OBJECT_SIZE, " (5 TiB, S3's object size limit)")
    part_size = _int_field(
        request, "part_size", MIN_PART_SIZE, MAX_PART_SIZE, " (5 MiB to 5 GiB, S3's part size limits)"
    )
    part_count = -(-size // part_size)
    if part_count > MAX_PARTS:
        least = -(-size // MAX_PARTS)
        raise RequestError(
            400,
            f"size {size} in parts of {part_size} bytes needs {part_count} parts, more than "
            f"S3's {MAX_PARTS}: use a part_size of at least {least}",
        )
    return size, part_size, part_count


def _validate_part_numbers(value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_URLS_PER_ANSWER:
        raise RequestError(
            400, f"part_numbers must be a list of 1 to {MAX_URLS_PER_ANSWER} part numbers"
        )
    return [_validate_part_number(n, "part_numbers") for n in value]


def _validate_completed_parts(value: Any) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PARTS:
        raise RequestError(400, f"parts must be a list of 1 to {MAX_PARTS} parts")
    parts = []
    for part in value:
        if not isinstance(part, dict) or set(part) != {"part_number", "etag"}:
            raise RequestError(400, "each part must be an object with part_number and etag")
        number = _validate_part_number(part["part_number"], "part numbers")
        etag = part["etag"]
        if (
            not isinstance(etag, str)
            or not 1 <= len(etag) <= MAX_ETAG_CHARS
            or any(unicodedata.category(ch) == "Cc" for ch in etag)
        ):
            raise RequestError(400, "each part's etag must be a non-empty string")
        if parts and number <= parts[-1]["PartNumber"]:
            raise RequestError(400, "parts must be in ascending part_number order, each once")
        parts.append({"PartNumber": number, "ETag": etag})
    return parts


def _validate_key(key: Any) -> str:
    if not isinstance(key, str):
        raise RequestError(400, "object_key must be a string")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:  # e.g. a lone surrogate from a "\ud800" escape
        raise RequestError(400, "object_key is not valid Unicode") from None
    if size > MAX_KEY_BYTES:
        raise RequestError(400, f"object_key must be at most {MAX_KEY_BYTES} bytes (UTF-8)")
    if any(unicodedata.category(ch) == "Cc" for ch in key):  # C0, DEL and C1
        raise RequestError(400, "object_key must not contain control characters")
    if key.startswith("/"):
        raise RequestError(400, "object_key must not start with '/'")
    if not key.startswith(KEY_PREFIX):
        raise RequestError(400, f"object_key must start with '{KEY_PREFIX}'")
    if key == KEY_PREFIX:
        raise RequestError(400, f"object_key must name an object under '{KEY_PREFIX}'")
    if ".." in key.split("/"):
        raise RequestError(400, "object_key must not contain '..' path segments")
    return key


def _config() -> tuple[str, int]:
    """Read the bucket and URL expiry from the environment (500 if wrong)."""
    bucket = os.environ.get("S3_BUCKET", "").strip()
    if not bucket:
        raise RequestError(500, "server configuration error: S3_BUCKET is not set")
    raw = os.environ.get("URL_EXPIRY_SECONDS")
    if raw is None:
        return bucket, DEFAULT_EXPIRY_SECONDS
    raw = raw.strip()
    expiry = int(raw) if _EXPIRY_RE.fullmatch(raw) else 0
    if not 1 <= expiry <= MAX_EXPIRY_SECONDS:
        raise RequestError(
            500,
            "server configuration error: URL_EXPIRY_SECONDS must be an integer "
            f"between 1 and {MAX_EXPIRY_SECONDS}",
        )
    return bucket, expiry


def _for_log(value: Any, limit: int) -> str | None:
    """A string field for the log line, truncated; None for non-strings."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[:limit] + "..."


def _client():
    try:
        return _s3_client()
    except (BotoCoreError, ValueError) as exc:  # e.g. a malformed endpoint URL
        raise RequestError(500, "server configuration error: cannot create the S3 client") from exc


def _sign(client, method: str, params: dict, expiry: int, http_method: str) -> str:
    try:
        return client.generate_presigned_url(
            ClientMethod=method, Params=params, ExpiresIn=expiry, HttpMethod=http_method
        )
    except (BotoCoreError, ClientError) as exc:  # e.g. no credentials
        raise RequestError(500, "could not create a presigned URL") from exc


def _part_urls(client, bucket, key, upload_id, numbers, expiry) -> list[dict]:
    return [
        {
            "part_number": n,
            "url": _sign(
                client,
                "upload_part",
                {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": n},
                expiry,
                "PUT",
            ),
        }
        for n in numbers
    ]


def _s3_call(operation: str, call):
    """Run an S3 call; its client errors keep their 4xx status, the rest become 5xx."""
    try:
        return call()
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
        if code == "NoSuchUpload":
            raise RequestError(
                404,
                "no such multipart upload for this key (NoSuchUpload): "
                "it was completed or aborted, or never started",
            ) from exc
        if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"):
            raise RequestError(
                500, f"server configuration error: S3 refused {operation} ({code})"
            ) from exc
        if 400 <= status < 500:
            message = str(error.get("Message") or "")[:300]
            raise RequestError(status, f"S3 refused {operation} ({code}): {message}") from exc
        raise RequestError(502, f"S3 failed {operation} ({code})") from exc
    except BotoCoreError as exc:  # connection errors, timeouts
        raise RequestError(502, f"S3 did not answer {operation}") from exc


def _multipart_etag(parts: list[dict]) -> str | None:
    """The ETag S3 gives the object of these parts (unquoted): the MD5 of the parts' MD5s,
    then ``-`` and the number of parts. None when a part's ETag is not an MD5 (objects
    encrypted with a KMS key have other ETags)."""
    digests = b""
    for part in parts:
        etag = part["ETag"].strip('"')
        if not re.fullmatch(r"[0-9a-fA-F]{32}", etag):
            return None
        digests += bytes.fromhex(etag)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def _completed_object(client, bucket: str, key: str, parts: list[dict], size: int | None):
    """The ETag of ``key`` when it holds the object ``parts`` make, else None (absent, some
    other object, or it could not be looked up)."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError):
        return None
    etag = str(head.get("ETag") or "")
    if size is not None and head.get("ContentLength") != size:
        return None
    expected = _multipart_etag(parts)
    found = etag.strip('"').lower()
    if expected is not None and found != expected:
        return None
    if expected is None and not found.endswith(f"-{len(parts)}"):
        return None
    return etag


def _complete(client, bucket: str, key: str, upload_id: str, parts: list[dict], size):
    """CompleteMultipartUpload: (the object's ETag, outcome for the log). After any error
    the object is looked up: the call may have been carried out though its answer says
    otherwise. The error stands only when the key does not hold these parts' object."""
    try:
        done = _s3_call(
            "CompleteMultipartUpload",
            lambda: client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )
        if done.get("ETag"):
            return done["ETag"], f"completed a multipart upload of {len(parts)} parts"
        failure = RequestError(502, "S3 answered CompleteMultipartUpload without an ETag")
    except RequestError as exc:
        failure = exc
    etag = _completed_object(client, bucket, key, parts, size)
    if etag is None and isinstance(failure.__cause__, BotoCoreError):
        # No answer at all (a connection lost or timed out): S3 may still be completing it.
        raise RequestError(
            504, "S3 did not answer CompleteMultipartUpload: it may still complete; look the object up"
        ) from failure.__cause__
    if etag is None:
        raise failure
    return etag, (
        f"completed a multipart upload of {len(parts)} parts ({failure.message}; "
        "the object is there with these parts' ETag)"
    )


def _json_response(answer: dict) -> dict:
    return _response(200, json.dumps(answer), "application/json")


def _multipart(action: str, request: dict, key: str) -> tuple[dict, str]:
    """Answer one multipart action: (response, outcome for the log)."""
    if action == "createMultipartUpload":
        size, part_size, part_count = _validate_sizes(request)
        bucket, expiry = _config()
        client = _client()
        created = _s3_call(
            "CreateMultipartUpload",
            lambda: client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType="application/octet-stream"
            ),
        )
        upload_id = created["UploadId"]
        numbers = range(1, min(part_count, MAX_URLS_PER_ANSWER) + 1)
        answer = {
            "upload_id": upload_id,
            "part_size": part_size,
            "part_count": part_count,
            "expires_in": expiry,
            "parts": _part_urls(client, bucket, key, upload_id, numbers, expiry),
        }
        outcome = f"started a multipart upload of {size} bytes in {part_count} parts"
        return _json_response(answer), outcome
    upload_id = _validate_upload_id(request.get("upload_id"))
    if action == "uploadPart":
        numbers = _validate_part_numbers(request.get("part_numbers"))
        bucket, expiry = _config()
        parts = _part_urls(_client(), bucket, key, upload_id, numbers, expiry)
        answer = {"upload_id": upload_id, "expires_in": expiry, "parts": parts}
        return _json_response(answer), f"presigned {len(parts)} part URL(s) valid {expiry}s"
    if action == "completeMultipartUpload":
        parts = _validate_completed_parts(request.get("parts"))
        size = None
        if request.get("size") is not None:
            size = _int_field(request, "size", 1, MAX_OBJECT_SIZE, " (5 TiB, S3's object size limit)")
        bucket, _ = _config()
        etag, outcome = _complete(_client(), bucket, key, upload_id, parts, size)
        answer = {"object_key": key, "upload_id": upload_id, "etag": etag}
        return _json_response(answer), outcome
    bucket, _ = _config()
    client = _client()
    _s3_call(
        "AbortMultipartUpload",
        lambda: client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
    )
    answer = {"object_key": key, "upload_id": upload_id, "aborted": True}
    return _json_response(answer), "aborted a multipart upload"


def handler(event, context):
    """Lambda entry point: answer one presign request."""
    action = key = None
    try:
        request = _parse_request(event)
        action, key = request.get("action"), request.get("object_key")
        action = _validate_action(action)
        if action in BATCH_ACTIONS:
            keys = _validate_keys(request.get("object_keys"))
            key = keys[0]
            bucket, expiry = _config()
            client = _client()
            client_method, http_method = ACTIONS[BATCH_ACTIONS[action]]
            extra = _get_params(action, request)
            urls = [
                {
                    "object_key": k,
                    "url": _sign(
                        client, client_method, {"Bucket": bucket, "Key": k, **extra}, expiry, http_method
                    ),
                }
                for k in keys
            ]
            response = _json_response({"expires_in": expiry, "urls": urls})
            outcome = f"presigned {len(urls)} {http_method} URL(s) valid {expiry}s"
        elif action in MULTIPART_ACTIONS:
            key = _validate_key(key)
            response, outcome = _multipart(action, request, key)
        else:
            key = _validate_key(key)
            extra = _get_params(action, request)
            bucket, expiry = _config()
            client_method, http_method = ACTIONS[action]
            params = {"Bucket": bucket, "Key": key, **extra}
            url = _sign(_client(), client_method, params, expiry, http_method)
            response = _response(200, url, "text/plain")
            outcome = f"presigned {http_method} URL valid {expiry}s"
    except RequestError as exc:
        response = _error_response(exc.status, exc.message, exc.headers)
        outcome = exc.message
        if exc.__cause__ is not None:  # name the underlying boto error, not its text
            outcome += f" ({type(exc.__cause__).__name__})"

    # One JSON line per request. The URLs (and so their signatures) are never
    # logged; json.dumps escapes control characters to keep it on one line.
    LOGGER.info(
        json.dumps(
            {
                "action": _for_log(action, 64),
                "object_key": _for_log(key, MAX_KEY_BYTES),
                "status": response["statusCode"],
                "outcome": outcome,
            }
        )
    )
    return response
