"""Publishing a promoted model to a deployment folder, atomically.

Layout of the folder:
  models/<model_id>/model.pt     the weights (a torch.save'd state dict)
  models/<model_id>/card.json    pipeline, trigger, lineage, training set size, metrics, checksums
  current -> models/<model_id>   a symlink, swapped atomically (rename over the old one)
  current.json                   a copy of the current card (replaced atomically)

A model's directory is written under a temporary name and renamed into place when complete, and
`current` is switched only afterwards, so a serving system that resolves `current` once and reads
both files from there never sees a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(folder: Path, model_id: int, chunks: Iterable[bytes], card: dict[str, Any]) -> Path:
    """Write model `model_id` into `folder` and make it `current`; return its directory."""
    folder = Path(folder)
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    final = models / str(model_id)
    if not final.exists():
        staging = models / f".staging-{model_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            digest = hashlib.sha256()
            with open(staging / "model.pt", "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            card = dict(card, file_sha256=digest.hexdigest())
            _write_json(staging / "card.json", card)
            _fsync_path(staging)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_path(models)
    else:
        # Published before (a retried promotion, or a return to an earlier model): refresh only the card.
        previous = json.loads((final / "card.json").read_text())
        card = dict(card, file_sha256=previous.get("file_sha256"))
        _write_json(final / "card.json", card)
    link_temp = folder / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(Path("models") / str(model_id), link_temp)
    os.replace(link_temp, folder / "current")
    _write_json(folder / "current.json", card)
    _fsync_path(folder)
    return final


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(temp, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
