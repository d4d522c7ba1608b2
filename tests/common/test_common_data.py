"""modyn.common.data: built-in bytes parsers and image transformations (shared by trainer and evaluator)."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from modyn.common.data import (
    BUILTIN_PARSERS,
    DataConfigError,
    build_bytes_parser,
    build_transform,
    check_bytes_parser,
    check_transformations,
)


def png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_parsers() -> None:
    gray = (np.arange(12, dtype=np.uint8) * 20).reshape(3, 4)
    tensor = build_bytes_parser("image")(png(gray, "L"))
    assert tensor.shape == (1, 3, 4) and tensor.dtype == torch.float32
    assert torch.equal(tensor[0], torch.from_numpy(gray).float() / 255)
    rgb = np.stack([gray, gray // 2, gray // 4], axis=2)
    tensor = build_bytes_parser("image")(png(rgb, "RGB"))
    assert tensor.shape == (3, 3, 4) and torch.equal(tensor[1], torch.from_numpy(gray // 2).float() / 255)
    assert build_bytes_parser("image_rgb")(png(gray, "L")).shape == (3, 3, 4)
    assert build_bytes_parser("image_grayscale")(png(rgb, "RGB")).shape == (1, 3, 4)


def test_vector_text_and_csv_parsers() -> None:
    values = np.array([1.5, -2.0, 3.25])
    assert build_bytes_parser("float32")(values.astype("<f4").tobytes()).tolist() == [1.5, -2.0, 3.25]
    assert build_bytes_parser("float64_be")(values.astype(">f8").tobytes()).dtype == torch.float64
    ints = build_bytes_parser("int16")(np.array([1, -2, 300], dtype="<i2").tobytes())
    assert ints.tolist() == [1, -2, 300] and ints.dtype == torch.int64
    assert build_bytes_parser("uint8")(bytes([0, 255])).tolist() == [0, 255]
    assert build_bytes_parser("utf8")("héllo".encode()) == "héllo"
    assert build_bytes_parser("csv_floats")(b"1,2.5;-3\t4").tolist() == [1.0, 2.5, -3.0, 4.0]
    with pytest.raises(ValueError, match="multiple of element size"):
        build_bytes_parser("float32")(b"abc")


def test_user_source_and_errors() -> None:
    parser = build_bytes_parser("def bytes_parser_function(data):\n    return len(data)\n")
    assert parser(b"abcd") == 4
    with pytest.raises(DataConfigError, match=r"^data.bytes_parser_function: unknown built-in parser 'png'"):
        build_bytes_parser("png")
    with pytest.raises(DataConfigError, match="cannot compile"):
        build_bytes_parser("def bytes_parser_function(:\n")
    assert check_bytes_parser("image") == []
    assert check_bytes_parser("def other(x):\n    pass\n") == [
        "data.bytes_parser_function: the source must define a function named 'bytes_parser_function'"
    ]
    assert check_bytes_parser("def bytes_parser_function(:\n", "evaluation.datasets[0].bytes_parser_function")[
        0
    ].startswith("evaluation.datasets[0].bytes_parser_function: cannot compile: SyntaxError")
    assert all(pickle.loads(pickle.dumps(p)) for p in BUILTIN_PARSERS.values())


def test_checks_do_not_import_torch() -> None:
    code = (
        "import sys\nfrom modyn.common.data import check_bytes_parser, check_transformations\n"
        "assert check_transformations(['Normalize(0.5, 0.5)', {'name': 'Resize', 'size': 8}]) == []\n"
        "assert check_bytes_parser('image') == []\nassert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_transformations() -> None:
    image = torch.arange(2 * 4 * 6, dtype=torch.float32).view(2, 4, 6)
    normalize = build_transform(["transforms.Normalize((1.0, 2.0), (2.0, 4.0))"])
    assert normalize is not None
    out = normalize(image)
    assert torch.equal(out[0], (image[0] - 1) / 2) and torch.equal(out[1], (image[1] - 2) / 4)
    assert torch.equal(build_transform(["CenterCrop(2)"])(image), image[:, 1:3, 2:4])  # type: ignore[misc]
    assert build_transform([{"name": "CenterCrop", "size": [6, 8]}])(image)[:, 0].abs().sum() == 0  # type: ignore[misc]
    assert build_transform(["Resize([8, 12])"])(image).shape == (2, 8, 12)  # type: ignore[misc]
    assert build_transform(["Resize(2)"])(image).shape == (2, 2, 3)  # type: ignore[misc]
    flip = build_transform(["RandomHorizontalFlip(1.0)", {"name": "RandomVerticalFlip", "p": 1}])
    assert torch.equal(flip(image), image.flip(-1).flip(-2))  # type: ignore[misc]
    assert torch.equal(build_transform(["RandomHorizontalFlip(0.0)"])(image), image)  # type: ignore[misc]
    padded = build_transform(["RandomCrop(4, padding=2)"])
    torch.manual_seed(0)
    crops = {tuple(padded(image).flatten().tolist()) for _ in range(20)}  # type: ignore[misc]
    assert len(crops) > 1 and all(len(c) == 2 * 4 * 4 for c in crops)
    gray = build_transform(["Grayscale(3)"])(torch.ones(3, 2, 2))  # type: ignore[misc]
    assert gray.shape == (3, 2, 2) and torch.allclose(gray, torch.ones(3, 2, 2))
    to_tensor = build_transform(["ToTensor"])
    assert torch.equal(to_tensor(torch.tensor([[255]], dtype=torch.uint8)), torch.tensor([[1.0]]))  # type: ignore[misc]
    assert build_transform([]) is None
    composed = build_transform(["Normalize(0.5, 0.5)", "RandomCrop(2)"])
    assert repr(pickle.loads(pickle.dumps(composed))) == "Compose(['Normalize', 'RandomCrop'])"


def test_transformation_problems_name_the_item() -> None:
    assert check_transformations(
        ["Normalize((1, 2), (1,))", "Blur", {"size": 3}, "Resize(0)", "RandomCrop(4, pad=1)"]
    ) == [
        "data.transformations[0]: Normalize: mean and std need the same number of values, got (1, 2) and (1,)",
        "data.transformations[1]: unknown transformation 'Blur' (known: CenterCrop, Grayscale, Normalize, "
        "RandomCrop, RandomHorizontalFlip, RandomVerticalFlip, Resize, ToFloat, ToTensor)",
        "data.transformations[2]: a mapping needs a string 'name'",
        "data.transformations[3]: Resize: size must be > 0, got 0",
        "data.transformations[4]: RandomCrop: got an unexpected keyword argument 'pad'",
    ]
    assert check_transformations(["Normalize(x)"], "evaluation.transformations") == [
        "evaluation.transformations[0]: the arguments of 'Normalize(x)' must be literals (numbers, tuples, ...)"
    ]
    with pytest.raises(ValueError, match=r"RandomCrop of 9x9 does not fit"):
        build_transform(["RandomCrop(9)"])(torch.zeros(1, 4, 4))  # type: ignore[misc]
