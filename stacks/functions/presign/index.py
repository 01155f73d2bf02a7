"""Presign Lambda: hands out short-lived S3 URLs for objects under ``input/``.

Invoked either through an API Gateway REST API (Lambda proxy integration) or
directly with the request object as the event. The request is a JSON object::

    {"action": "putObject" | "getObject", "object_key": "input/..."}

A valid request answers 200 with the presigned URL as a ``text/plain`` body.
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
    if not isinstance(action, str) or action not in ACTIONS:
        raise RequestError(400, "action must be one of: " + ", ".join(sorted(ACTIONS)))
    return action


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


def handler(event, context):
    """Lambda entry point: answer one presign request."""
    action = key = None
    try:
        request = _parse_request(event)
        action, key = request.get("action"), request.get("object_key")
        action = _validate_action(action)
        key = _validate_key(key)
        bucket, expiry = _config()
        client_method, http_method = ACTIONS[action]
        try:
            client = _s3_client()
        except (BotoCoreError, ValueError) as exc:  # e.g. a malformed endpoint URL
            raise RequestError(
                500, "server configuration error: cannot create the S3 client"
            ) from exc
        try:
            url = client.generate_presigned_url(
                ClientMethod=client_method,
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=expiry,
                HttpMethod=http_method,
            )
        except (BotoCoreError, ClientError) as exc:  # e.g. no credentials
            raise RequestError(500, "could not create a presigned URL") from exc
        response = _response(200, url, "text/plain")
        outcome = f"presigned {http_method} URL valid {expiry}s"
    except RequestError as exc:
        response = _error_response(exc.status, exc.message, exc.headers)
        outcome = exc.message
        if exc.__cause__ is not None:  # name the underlying boto error, not its text
            outcome += f" ({type(exc.__cause__).__name__})"

    # One JSON line per request. The URL (and so its signature) is never
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
