"""Built-in bytes parsers: named functions from a sample's bytes to a model input.

Each one is a module-level function (so it pickles into DataLoader workers). Decoding uses
Pillow (images) and numpy; results are torch tensors (strings for ``utf8``):

- ``image``: any Pillow-readable image (PNG, JPEG, ...) as float32 ``C x H x W`` in [0, 1];
  grayscale stays 1 channel, everything else becomes RGB (3 channels).
- ``image_rgb`` / ``image_grayscale``: the same, converted to 3 / 1 channel(s).
- ``float16``, ``float32``, ``float64``, ``int8``, ``int16``, ``int32``, ``int64``, ``uint8``:
  the bytes as a little-endian vector of that type (``<type>_be`` for big-endian); integer
  vectors become int64 tensors, float vectors float32 (float64 stays float64).
  ``build_chunk_parser`` parses many samples of these types at once (one numpy call per chunk).
- ``utf8``: the bytes decoded as UTF-8 text (a str).
- ``csv_floats``: a CSV row (as CsvFileWrapper serves it, ``,``/``;``/tab separated) as float32.
"""

from __future__ import annotations

import ast
import functools
import io
import re
from collections.abc import Callable
from typing import Any

from modyn.common.data.specs import DataConfigError
from modyn.common.user_functions import UserFunctionError, compile_user_function


def _image(data: bytes, mode: str | None) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        if mode is None:
            mode = "L" if opened.mode in ("L", "1", "I;16", "I", "F") else "RGB"
        image = opened.convert(mode) if opened.mode != mode else opened
        array = np.asarray(image)
    tensor = torch.from_numpy(array.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()
    return tensor.to(torch.float32).div_(255.0)


def parse_image(data: bytes) -> Any:
    return _image(data, None)


def parse_image_rgb(data: bytes) -> Any:
    return _image(data, "RGB")


def parse_image_grayscale(data: bytes) -> Any:
    return _image(data, "L")


def _vector(data: bytes, dtype: str) -> Any:
    import numpy as np
    import torch

    array = np.frombuffer(data, dtype=dtype)
    target: Any = np.int64
    if array.dtype.kind == "f":
        target = np.float64 if array.dtype.itemsize == 8 else np.float32
    return torch.from_numpy(array.astype(target, copy=True))


def _vector_chunk(data: bytes, offsets: Any, dtype: str) -> Any:
    """Many samples of one fixed-width vector type at once: sample i is data[offsets[i]:offsets[i+1]].

    Returns an ``n x width`` tensor whose row i equals ``_vector(sample i)``, or None when the samples
    do not all have the same length (a multiple of the item size); parse those one by one."""
    import numpy as np
    import torch

    n = len(offsets) - 1
    if n <= 0:
        return None
    item = np.dtype(dtype)
    start, end = int(offsets[0]), int(offsets[-1])
    width = (end - start) // n
    if width * n != end - start or width % item.itemsize or bool((np.diff(offsets) != width).any()):
        return None
    array = np.frombuffer(data, dtype=item, count=(end - start) // item.itemsize, offset=start)
    target: Any = np.int64
    if item.kind == "f":
        target = np.float64 if item.itemsize == 8 else np.float32
    return torch.from_numpy(array.reshape(n, width // item.itemsize).astype(target, copy=True))


def parse_utf8(data: bytes) -> str:
    return data.decode("utf-8")


_CSV_SEPARATORS = re.compile(r"[,;\t]")


def parse_csv_floats(data: bytes) -> Any:
    import torch

    text = data.decode("utf-8").strip()
    return torch.tensor([float(v) for v in _CSV_SEPARATORS.split(text)] if text else [], dtype=torch.float32)


_VECTOR_TYPES = {
    "float16": "f2",
    "float32": "f4",
    "float64": "f8",
    "int8": "i1",
    "int16": "i2",
    "int32": "i4",
    "int64": "i8",
    "uint8": "u1",
}

BUILTIN_PARSERS: dict[str, Callable[[bytes], Any]] = {
    "image": parse_image,
    "image_rgb": parse_image_rgb,
    "image_grayscale": parse_image_grayscale,
    "utf8": parse_utf8,
    "csv_floats": parse_csv_floats,
}
for _name, _code in _VECTOR_TYPES.items():
    BUILTIN_PARSERS[_name] = functools.partial(_vector, dtype="<" + _code)
    if _code[1] != "1":
        BUILTIN_PARSERS[_name + "_be"] = functools.partial(_vector, dtype=">" + _code)


# Parsers that also parse a whole chunk at once (name -> (data, offsets) -> stacked tensor or None).
CHUNK_PARSERS: dict[str, Callable[[bytes, Any], Any]] = {}
for _name, _code in _VECTOR_TYPES.items():
    CHUNK_PARSERS[_name] = functools.partial(_vector_chunk, dtype="<" + _code)
    if _code[1] != "1":
        CHUNK_PARSERS[_name + "_be"] = functools.partial(_vector_chunk, dtype=">" + _code)


def build_chunk_parser(source_or_name: str) -> Callable[[bytes, Any], Any] | None:
    """For a built-in fixed-width vector parser (``float32``, ``int64_be``, ...): a function
    ``(data, offsets) -> n x width tensor`` (None when the samples' lengths differ) that gives the
    same rows as the per-sample parser, in one numpy call. None for every other parser."""
    if not isinstance(source_or_name, str):
        return None
    return CHUNK_PARSERS.get(source_or_name.strip())


def is_builtin_parser(value: str) -> bool:
    return value.strip() in BUILTIN_PARSERS


def build_bytes_parser(source_or_name: str, where: str = "data.bytes_parser_function") -> Callable[[bytes], Any]:
    """The built-in parser of that name, or the `bytes_parser_function` the Python source defines."""
    if not isinstance(source_or_name, str) or not source_or_name.strip():
        raise DataConfigError(f"{where}: must name a built-in parser or define bytes_parser_function")
    if is_builtin_parser(source_or_name):
        return BUILTIN_PARSERS[source_or_name.strip()]
    if "def " not in source_or_name and "\n" not in source_or_name.strip():
        known = ", ".join(sorted(BUILTIN_PARSERS))
        raise DataConfigError(f"{where}: unknown built-in parser {source_or_name.strip()!r} (known: {known})")
    try:
        function = compile_user_function(source_or_name, "bytes_parser_function")
    except UserFunctionError as exc:
        raise DataConfigError(f"{where}: {exc}") from exc
    assert function is not None
    return function


def check_bytes_parser(value: Any, where: str = "data.bytes_parser_function") -> list[str]:
    """Problems of a parser config value. User source is only compiled and inspected, not run."""
    if not isinstance(value, str) or not value.strip():
        return [f"{where}: must name a built-in parser or define bytes_parser_function"]
    if is_builtin_parser(value):
        return []
    if "def " not in value and "\n" not in value.strip():
        return [f"{where}: unknown built-in parser {value.strip()!r} (known: {', '.join(sorted(BUILTIN_PARSERS))})"]
    try:
        tree = ast.parse(value)
    except SyntaxError as exc:
        return [f"{where}: cannot compile: SyntaxError: {exc.msg} (line {exc.lineno})"]
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if "bytes_parser_function" not in defined:
        return [f"{where}: the source must define a function named 'bytes_parser_function'"]
    return []
