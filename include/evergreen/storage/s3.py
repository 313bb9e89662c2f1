"""S3 chores over boto3: a client for the configured endpoint, buckets, landing drops up and listed back.

The endpoint is an argument or `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (scripts/s3.sh's S3Proxy on loopback,
MinIO, or nothing for AWS itself); credentials are boto3's usual chain (`AWS_ACCESS_KEY_ID` /
`AWS_SECRET_ACCESS_KEY`, a profile, an instance role). Addressing is path-style (`endpoint/bucket/key`), which
every S3-compatible server serves, and the region defaults to us-east-1.

URLs are `s3://bucket/prefix` or Hadoop's `s3a://bucket/prefix` (what Spark writes): one bucket, one prefix.
A prefix names a folder: `s3://b/landing` covers `landing/x.csv`, never `landing2/x.csv`.
Failures raise `S3Error` with one line naming the URL or endpoint and S3's own error code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

REGION = "us-east-1"
SCHEMES = ("s3://", "s3a://")

# A boto3 S3 client (boto3 has no static type for it without the mypy-boto3-s3 stubs).
S3Client = Any


class S3Error(RuntimeError):
    """An S3 request failed; the message names the URL or endpoint and the reason."""


def split(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b/` -> ("bucket", "a/b"); `s3a://` alike. The prefix has no leading or trailing slash."""
    for scheme in SCHEMES:
        if url.startswith(scheme):
            bucket, _, prefix = url.removeprefix(scheme).partition("/")
            if not bucket:
                raise S3Error(f"{url}: no bucket name (expected s3://bucket/prefix)")
            return bucket, prefix.strip("/")
    raise S3Error(f"{url}: not an S3 URL (expected s3://bucket/prefix or s3a://bucket/prefix)")


def endpoint_url(endpoint: str | None = None) -> str | None:
    """The endpoint a client talks to: `endpoint`, else the environment's, else None (AWS itself)."""
    return endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(
    endpoint: str | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    attempts: int = 3,
    timeout: float = 60,
) -> S3Client:
    """A path-style S3 client for `endpoint` (see `endpoint_url`); keys default to boto3's credential chain."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or REGION
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url(endpoint),
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=min(timeout, 5),
            read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
        ),
    )


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        code = err.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"{code}: {err.get('Message') or 'no message'}"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            reason += " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        return reason
    if isinstance(error, EndpointConnectionError):
        return f"{error} (nothing answers there: is the S3 server running? scripts/s3.sh start)"
    return str(error) or type(error).__name__


def healthy(
    endpoint: str | None = None, *, access_key: str | None = None, secret_key: str | None = None
) -> tuple[bool, str]:
    """(True, "") if a signed ListBuckets on `endpoint` succeeds, else (False, one line saying why)."""
    where = endpoint_url(endpoint) or "AWS S3"
    s3 = client(endpoint, access_key=access_key, secret_key=secret_key, attempts=1, timeout=5)
    try:
        s3.list_buckets()
    except (ClientError, BotoCoreError) as e:
        return False, f"S3 at {where}: {_reason(e)}"
    return True, ""


def ensure_bucket(name: str, *, s3: S3Client | None = None) -> bool:
    """Create bucket `name` unless it exists; True if this call created it."""
    s3 = s3 or client()
    try:
        s3.head_bucket(Bucket=name)
        return False
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise S3Error(f"s3://{name}: {_reason(e)}") from e
    except BotoCoreError as e:
        raise S3Error(f"s3://{name}: {_reason(e)}") from e
    try:
        s3.create_bucket(Bucket=name)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "BucketAlreadyOwnedByYou":  # created meanwhile
            return False
        raise S3Error(f"s3://{name}: cannot create the bucket: {_reason(e)}") from e
    except BotoCoreError as e:
        raise S3Error(f"s3://{name}: cannot create the bucket: {_reason(e)}") from e
    return True


def _key(prefix: str, relative: str) -> str:
    return f"{prefix}/{relative}" if prefix else relative


def upload_tree(local_dir: str | Path, url: str, *, s3: S3Client | None = None) -> list[str]:
    """Upload every file under `local_dir` to `url`, keeping relative paths; the keys written, sorted."""
    root = Path(local_dir)
    if not root.is_dir():
        raise S3Error(f"{url}: cannot upload {root}: not a folder")
    bucket, prefix = split(url)
    s3 = s3 or client()
    keys: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = _key(prefix, path.relative_to(root).as_posix())
        try:
            s3.upload_file(str(path), bucket, key)
        except (ClientError, BotoCoreError) as e:
            raise S3Error(f"s3://{bucket}/{key}: cannot upload {path}: {_reason(e)}") from e
        except S3UploadFailedError as e:  # upload_file's wrapper around the ClientError it caught
            inner = e.__context__ if isinstance(e.__context__, ClientError) else e
            raise S3Error(f"s3://{bucket}/{key}: cannot upload {path}: {_reason(inner)}") from e
        keys.append(key)
    return keys


def list_keys(url: str, *, s3: S3Client | None = None) -> list[str]:
    """Every object key under `url` (full keys, prefix included), sorted."""
    bucket, prefix = split(url)
    s3 = s3 or client()
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=_key(prefix, "")):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    except (ClientError, BotoCoreError) as e:
        raise S3Error(f"{url}: cannot list: {_reason(e)}") from e
    return sorted(keys)
