"""Turning sample bytes into model inputs, shared by the trainer server and the evaluator.

The small stable API:

- ``build_bytes_parser(source_or_name)``: a callable ``bytes -> sample``. ``source_or_name`` is
  either the name of a built-in parser (``BUILTIN_PARSERS``: ``image``, ``image_rgb``,
  ``image_grayscale``, ``float32``, ``float64``, ``int32``, ``int64``, ``uint8``, ``utf8``,
  ``csv_floats`` ...) or Python source that defines ``bytes_parser_function(data: bytes)``.
- ``build_transform(specs, where="data.transformations")``: a picklable callable applied to each
  parsed sample, composed of built-in transformations (``TRANSFORMATIONS``: ``ToTensor``,
  ``ToFloat``, ``Normalize``, ``Resize``, ``CenterCrop``, ``RandomCrop``, ``RandomHorizontalFlip``,
  ``RandomVerticalFlip``, ``Grayscale``), or None for an empty list. A spec is a name
  (``"RandomHorizontalFlip"``), a torchvision-style call as in Modyn configs
  (``"transforms.Normalize((0.1307,), (0.3081,))"``) or a mapping (``{name: Resize, size: 32}``).
- ``check_bytes_parser(value, where)`` / ``check_transformations(specs, where)``: the problems
  (``"yaml.path: what is wrong"`` lines) a config would hit, without importing torch.

Errors are ``DataConfigError`` (a ValueError) whose message starts with the config path.
Nothing here imports torch, numpy or Pillow at import time.
"""

from __future__ import annotations

from modyn.common.data.parsers import BUILTIN_PARSERS, build_bytes_parser, check_bytes_parser, is_builtin_parser
from modyn.common.data.specs import DataConfigError
from modyn.common.data.transforms import TRANSFORMATIONS, Compose, build_transform, check_transformations

__all__ = [
    "BUILTIN_PARSERS",
    "TRANSFORMATIONS",
    "Compose",
    "DataConfigError",
    "build_bytes_parser",
    "build_transform",
    "check_bytes_parser",
    "check_transformations",
    "is_builtin_parser",
]
