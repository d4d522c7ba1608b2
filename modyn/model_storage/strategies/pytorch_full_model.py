"""PyTorchFullModel: a model stored as the very bytes that were uploaded (torch.save'd state dict).

Config (`model_storage.full_model_strategy`):
  - `zip` (bool, default false): compress the bytes with zlib (DEFLATE, as a ZIP_DEFLATED entry would).

Fetching returns exactly the uploaded bytes, so the upload's SHA-256 holds end to end.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

CHUNK = 4 * 1024 * 1024


class PyTorchFullModel:
    name = "PyTorchFullModel"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        unknown = sorted(set(config) - {"name", "zip"})
        if unknown:
            raise ValueError(f"PyTorchFullModel: unknown config key(s) {', '.join(unknown)} (allowed: zip)")
        self.zip = bool(config.get("zip", False))

    def encoding(self) -> dict[str, Any]:
        return {"strategy": self.name, "zip": self.zip}

    @staticmethod
    def write(source: BinaryIO, destination: BinaryIO, zip_: bool) -> None:
        """Copy the upload into the stored file (compressing when `zip_`)."""
        compressor = zlib.compressobj(6) if zip_ else None
        while chunk := source.read(CHUNK):
            destination.write(compressor.compress(chunk) if compressor else chunk)
        if compressor:
            destination.write(compressor.flush())

    @staticmethod
    def read(stored_chunks: Iterator[bytes], zip_: bool) -> Iterator[bytes]:
        """The uploaded bytes from the stored file's chunks."""
        if not zip_:
            yield from stored_chunks
            return
        decompressor = zlib.decompressobj()
        for chunk in stored_chunks:
            out = decompressor.decompress(chunk)
            if out:
                yield out
        rest = decompressor.flush()
        if rest:
            yield rest
        if not decompressor.eof:
            raise ValueError("the compressed model ends early")
