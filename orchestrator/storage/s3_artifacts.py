"""Artifact folders under an ``s3://bucket/prefix`` (boto3), read through a per-host cache.

Every artifact is one object, ``<prefix>/<folder>/<name>``; a PUT replaces it atomically.
Reads ask S3 for the object's ETag (one HEAD request) and use the cached copy
``<cache_dir>/<bucket>/<key>~<etag>`` when this host has it, else download it there (a
temporary file and a rename, the download pinned to that ETag with ``If-Match``). So a reader
never sees a stale version another host replaced, arrays can be memory-mapped, and a host with
an empty cache reads everything from the bucket. Older cached versions of a key are deleted
when a newer one arrives; the cache can be deleted at any time.

A write of this host is cached under the ETag S3 answers for its PUT, so the next step's read
of the same array (``latent.npy`` right after the fit) costs one HEAD, not a download. Objects
above :data:`SINGLE_PUT_BYTES` go up as a multipart upload (boto3's transfer manager) and are
downloaded again on first read.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from glob import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from orchestrator.storage.artifacts import ByLocation
from orchestrator.storage.errors import StorageError
from orchestrator.storage.s3_client import S3Url, describe_endpoint, s3_client, storage_error

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef

SINGLE_PUT_BYTES = 256 << 20
"""Largest artifact written with one PUT (bytes); larger ones use a multipart upload."""

_ETAG_CHARS = re.compile(r"[^0-9A-Za-z-]")


def _etag(value: str) -> str:
    """An ETag as a file-name suffix (quotes and anything odd dropped)."""
    return _ETAG_CHARS.sub("", value)


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


@dataclass
class _Bucket:
    """What every folder under one bucket shares: its client, cache and one bucket check."""

    client: S3Client
    bucket: str
    cache_dir: Path
    checked: bool = False

    def check(self) -> None:
        """:class:`StorageError` unless the bucket exists and the credentials reach it."""
        if self.checked:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise storage_error(exc, client=self.client, bucket=self.bucket) from exc
        self.checked = True


@lru_cache(maxsize=32)
def _shared_bucket(endpoint_url: str | None, bucket: str, cache_dir: Path) -> _Bucket:
    return _Bucket(s3_client(endpoint_url), bucket, cache_dir)


class S3ArtifactDir(ByLocation):
    """:class:`~orchestrator.storage.artifacts.ArtifactDir` under an ``s3://`` URL."""

    def __init__(self, url: S3Url, shared: _Bucket) -> None:
        self.url = url
        self._shared = shared

    @classmethod
    def connect(cls, url: S3Url, *, endpoint_url: str | None, cache_dir: Path) -> S3ArtifactDir:
        """The folder at ``url`` through this process's client for ``endpoint_url`` (None: AWS).

        Folders of one bucket, endpoint and cache share one client (its connection pool) and
        one bucket check, however often their locations are opened.
        """
        return cls(url, _shared_bucket(endpoint_url, url.bucket, Path(cache_dir)))

    # ------------------------------------------------------------------ identity

    @property
    def location(self) -> str:
        return str(self.url)

    @property
    def name(self) -> str:
        return self.url.prefix.rsplit("/", 1)[-1]

    def child(self, name: str) -> S3ArtifactDir:
        if not name or "/" in name or name in (".", ".."):
            raise StorageError(f"{name!r} is not a folder name (under {self.location})")
        return S3ArtifactDir(S3Url(self.url.bucket, self.url.key(name)), self._shared)

    # ------------------------------------------------------------------ helpers

    @property
    def _client(self) -> S3Client:
        return self._shared.client

    def _key(self, name: str) -> str:
        return self.url.key(name)

    def _error(self, exc: Exception, name: str = "") -> StorageError:
        key = self._key(name) if name else self.url.prefix
        return storage_error(exc, client=self._client, bucket=self.url.bucket, key=key)

    def _missing(self, name: str) -> FileNotFoundError:
        """The artifact is not there; a missing bucket is a StorageError instead."""
        self._shared.check()
        return FileNotFoundError(
            f"no artifact {self.url.key(name)!r} in s3://{self.url.bucket} "
            f"(S3 endpoint {describe_endpoint(self._client)})"
        )

    def _head_etag(self, name: str) -> str | None:
        """The object's ETag as S3 sends it (quoted), or None when it does not exist."""
        try:
            head = self._client.head_object(Bucket=self.url.bucket, Key=self._key(name))
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise self._error(exc, name) from exc
        return str(head["ETag"])

    def _cache_path(self, name: str, etag: str) -> Path:
        return self._shared.cache_dir / self.url.bucket / f"{self._key(name)}~{_etag(etag)}"

    def _drop_other_versions(self, keep: Path) -> None:
        base = keep.name.rsplit("~", 1)[0]
        for old in keep.parent.glob(f"{escape(base)}~*"):
            if old != keep:
                old.unlink(missing_ok=True)  # a reader's open memory map stays valid

    def _cached(self, name: str, *, attempts: int = 3) -> Path:
        """A local file holding the current version of ``name``."""
        from botocore.exceptions import ClientError

        for _ in range(attempts):
            etag = self._head_etag(name)
            if etag is None:
                raise self._missing(name)
            path = self._cache_path(name, etag)
            if path.exists():
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                got = self._client.get_object(
                    Bucket=self.url.bucket, Key=self._key(name), IfMatch=etag
                )
                with open(tmp, "wb") as f:
                    for chunk in got["Body"].iter_chunks(1 << 20):
                        f.write(chunk)
                os.replace(tmp, path)
            except ClientError as exc:
                if _status(exc) in (404, 412):
                    continue  # replaced or deleted between the HEAD and the GET: ask again
                raise self._error(exc, name) from exc
            except Exception as exc:
                raise self._error(exc, name) from exc
            finally:
                tmp.unlink(missing_ok=True)
            self._drop_other_versions(path)
            return path
        raise StorageError(f"{self.location}/{name} kept changing while it was downloaded")

    # ------------------------------------------------------------------ the protocol

    def exists(self, name: str) -> bool:
        if self._head_etag(name) is not None:
            return True
        self._shared.check()  # "not there" must not hide a missing bucket
        return False

    def save_npy(self, name: str, array: npt.ArrayLike) -> None:
        staging = self._shared.cache_dir / self.url.bucket / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / f"{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "wb") as f:
                np.save(f, array)
            if tmp.stat().st_size <= SINGLE_PUT_BYTES:
                with open(tmp, "rb") as f:
                    put = self._client.put_object(
                        Bucket=self.url.bucket, Key=self._key(name), Body=f
                    )
                path = self._cache_path(name, str(put["ETag"]))
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
                self._drop_other_versions(path)
            else:
                self._client.upload_file(str(tmp), self.url.bucket, self._key(name))
        except StorageError:
            raise
        except Exception as exc:
            raise self._error(exc, name) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def load_npy(self, name: str, *, mmap: bool = False) -> npt.NDArray[Any]:
        return np.load(self._cached(name), mmap_mode="r" if mmap else None)

    def write_json(self, name: str, value: Any) -> None:
        body = json.dumps(value).encode("utf-8")
        try:
            self._client.put_object(
                Bucket=self.url.bucket,
                Key=self._key(name),
                Body=body,
                ContentType="application/json",
            )
        except Exception as exc:
            raise self._error(exc, name) from exc

    def read_json(self, name: str) -> Any:
        try:
            got = self._client.get_object(Bucket=self.url.bucket, Key=self._key(name))
            body = got["Body"].read()
        except Exception as exc:
            if _status(exc) == 404 and "NoSuchBucket" not in str(exc):
                raise self._missing(name) from exc
            raise self._error(exc, name) from exc
        return json.loads(body.decode("utf-8"))

    def remove(self) -> None:
        prefix = f"{self.url.prefix}/" if self.url.prefix else ""
        try:
            pages = self._client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.url.bucket, Prefix=prefix):
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": obj["Key"]} for obj in page.get("Contents", [])
                ]
                if keys:
                    self._client.delete_objects(Bucket=self.url.bucket, Delete={"Objects": keys})
        except Exception as exc:
            raise self._error(exc) from exc

    def check(self) -> None:
        self._shared.checked = False
        self._shared.check()
