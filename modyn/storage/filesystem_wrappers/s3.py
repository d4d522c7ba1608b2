"""Datasets in an S3 bucket (AWS or any S3-protocol server), read through fsspec/s3fs."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from modyn.storage.filesystem_wrappers.base import FilesystemWrapper, PathOutsideDatasetError

# Keys of the system config's `storage.s3` section that are passed on to s3fs.
S3_OPTION_KEYS = ("endpoint_url", "region_name", "anon", "key", "secret")
# User metadata (x-amz-meta-mtime) that overrides an object's LastModified as its samples' timestamp.
MTIME_METADATA_KEY = "mtime"


class S3FilesystemWrapper(FilesystemWrapper):
    """Reads a dataset's objects under `s3://bucket/prefix`.

    Options (system config `storage.s3`): `endpoint_url` (for S3-protocol servers other than AWS),
    `region_name`, `anon` (unsigned requests), `key`/`secret` (otherwise the usual AWS environment
    variables and credential files are used).

    S3 has no settable modification time: an object's timestamp is its `LastModified`, unless the object
    carries user metadata `mtime` (seconds since the epoch), which then wins. Objects become visible only
    once completely written, so no settling time is needed before ingesting them.
    """

    type_name = "S3FilesystemWrapper"
    atomic_writes = True
    request_cost_bytes = 1024 * 1024
    parallel_reads = 8

    def __init__(self, base_path: str, options: dict[str, Any] | None = None) -> None:
        normalized = self.normalize_base_path(base_path)
        if not normalized.startswith("s3://") or len(normalized) <= len("s3://"):
            raise ValueError(f"base_path: must be an s3://bucket[/prefix] URL, got '{base_path}'")
        super().__init__(normalized, options)
        unknown = sorted(set(self.options) - set(S3_OPTION_KEYS))
        if unknown:
            raise ValueError(f"storage.s3: unknown option(s) {', '.join(unknown)} (known: {', '.join(S3_OPTION_KEYS)})")
        self._prefix = normalized[len("s3://") :]  # bucket/prefix, no trailing slash
        self._fs: Any = None

    @classmethod
    def normalize_base_path(cls, base_path: str) -> str:
        return base_path.rstrip("/") if base_path else base_path

    @property
    def fs(self) -> Any:
        if self._fs is None:
            import s3fs  # imported lazily: only datasets on S3 pay for it

            options = dict(self.options)
            client_kwargs = {"region_name": options.pop("region_name")} if "region_name" in options else {}
            # No listings cache: every scan must see the bucket as it is now.
            self._fs = s3fs.S3FileSystem(
                **options, client_kwargs=client_kwargs, use_listings_cache=False, skip_instance_cache=True
            )
        return self._fs

    def _full(self, path: str) -> str:
        if path.startswith("/") or "://" in path:
            raise PathOutsideDatasetError(f"path '{path}' must be relative to the dataset's base_path")
        full = posixpath.normpath(f"{self._prefix}/{path}")
        if not full.startswith(self._prefix + "/"):
            raise PathOutsideDatasetError(f"path '{path}' is outside the dataset's base_path '{self.base_path}'")
        return full

    def check_base_path(self) -> None:
        bucket = self._prefix.split("/", 1)[0]
        try:
            if not self.fs.exists(bucket):
                raise ValueError(f"base_path: bucket of '{self.base_path}' does not exist or cannot be read")
        except (OSError, PermissionError) as exc:
            raise ValueError(f"base_path: '{self.base_path}' cannot be read: {exc}") from None

    def list_files(self, extension: str) -> list[str]:
        self.check_base_path()
        found = self.fs.find(self._prefix, detail=True)
        start = len(self._prefix) + 1
        return sorted(
            name[start:]
            for name, info in found.items()
            if info.get("type") == "file" and name.endswith(extension) and name.startswith(self._prefix + "/")
        )

    def exists(self, path: str) -> bool:
        try:
            return bool(self.fs.isfile(self._full(path)))
        except PathOutsideDatasetError:
            return False

    def mtime(self, path: str) -> float:
        full = self._full(path)
        metadata = self.fs.metadata(full, refresh=True)
        if MTIME_METADATA_KEY in metadata:
            try:
                return float(metadata[MTIME_METADATA_KEY])
            except ValueError:
                value = metadata[MTIME_METADATA_KEY]
                raise OSError(f"object '{path}': metadata mtime {value!r} is not a number") from None
        return float(self.fs.info(full, refresh=True)["LastModified"].timestamp())

    def size(self, path: str) -> int:
        return int(self.fs.info(self._full(path))["size"])

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(self._full(path)))

    def read_ranges(self, path: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        full = self._full(path)
        out = self.fs.cat_ranges(
            [full] * len(ranges), [o for o, _ in ranges], [o + n for o, n in ranges], on_error="raise"
        )
        for (offset, length), data in zip(ranges, out, strict=True):
            if len(data) != length:
                raise OSError(f"{path}: short read at offset {offset} ({len(data)} of {length} bytes)")
        return [bytes(d) for d in out]
