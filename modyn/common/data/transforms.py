"""Built-in sample transformations (the pipeline's ``data.transformations``), written with torch.

They work on the tensors the parsers produce (``C x H x W`` images, or ``H x W``) and, for
``ToTensor``, on Pillow images. Random ones draw from torch's global generator, which PyTorch's
DataLoader seeds per worker from the job's seed: the same seed gives the same augmentations.
Constructors check their parameters without importing torch (config validation uses them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from modyn.common.data.specs import DataConfigError, parse_call


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{what} must be an int or [height, width], got {value!r}")
    if min(pair) <= 0:
        raise ValueError(f"{what} must be > 0, got {value!r}")
    return pair


def _probability(p: Any) -> float:
    if not isinstance(p, int | float) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _as_image_tensor(x: Any) -> Any:
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a tensor image (C x H x W), got {type(x).__name__}; add ToTensor first")
    if x.dim() < 2:
        raise ValueError(f"expected an image tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    return x


class ToTensor:
    """Pillow image or uint8 tensor -> float32 tensor in [0, 1] (C x H x W); float tensors pass unchanged."""

    def __call__(self, x: Any) -> Any:
        import numpy as np
        import torch

        if not isinstance(x, torch.Tensor):
            array = np.asarray(x)
            x = torch.from_numpy(array.copy())
            x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1).contiguous()
        if not x.is_floating_point():
            return x.to(torch.float32).div_(255.0)
        return x


class ToFloat:
    """Cast to float32 (no scaling)."""

    def __call__(self, x: Any) -> Any:
        import torch

        return x.to(torch.float32)


class Normalize:
    """(x - mean[c]) / std[c] per channel; ``mean``/``std`` are numbers or one value per channel."""

    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = [float(v) for v in (mean if isinstance(mean, list | tuple) else [mean])]
        self.std = [float(v) for v in (std if isinstance(std, list | tuple) else [std])]
        if not self.mean or len(self.mean) != len(self.std):
            raise ValueError(f"mean and std need the same number of values, got {mean!r} and {std!r}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"std must not contain 0, got {std!r}")

    def __call__(self, x: Any) -> Any:
        import torch

        x = _as_image_tensor(x)
        channels = x.shape[0] if x.dim() >= 3 else 1
        if len(self.mean) not in (1, channels):
            raise ValueError(f"Normalize has {len(self.mean)} channel values but the image has {channels} channels")
        shape = (-1,) + (1,) * (x.dim() - 1) if x.dim() >= 3 else (1,)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype).view(shape)
        return (x - mean) / std


class Resize:
    """Resize with torch interpolation. An int ``size`` scales the shorter edge to it (aspect kept);
    ``[height, width]`` sets both. ``interpolation``: bilinear (default), nearest, bicubic, area."""

    _MODES = ("bilinear", "nearest", "bicubic", "area")

    def __init__(self, size: Any, interpolation: str = "bilinear", antialias: bool = True) -> None:
        self.size: int | tuple[int, int] = size if isinstance(size, int) else _pair(size, "size")
        if isinstance(size, int):
            _pair(size, "size")
        if interpolation not in self._MODES:
            raise ValueError(f"interpolation must be one of {', '.join(self._MODES)}, got {interpolation!r}")
        self.interpolation = interpolation
        self.antialias = bool(antialias)

    def __call__(self, x: Any) -> Any:
        import torch

        x = _as_image_tensor(x)
        height, width = x.shape[-2], x.shape[-1]
        if isinstance(self.size, int):
            short, long = (height, width) if height <= width else (width, height)
            new_long = int(self.size * long / short)
            target = (self.size, new_long) if height <= width else (new_long, self.size)
        else:
            target = self.size
        if (height, width) == tuple(target):
            return x
        dtype = x.dtype
        batch = x.reshape(-1, 1, height, width).to(torch.float32) if x.dim() == 2 else x.unsqueeze(0).float()
        kwargs: dict[str, Any] = {"mode": self.interpolation}
        if self.interpolation in ("bilinear", "bicubic"):
            kwargs.update(align_corners=False, antialias=self.antialias)
        out = torch.nn.functional.interpolate(batch, size=tuple(target), **kwargs)
        out = out[0, 0] if x.dim() == 2 else out[0]
        return out if dtype.is_floating_point else out.round().clamp(0, 255).to(dtype)


def _crop(x: Any, top: int, left: int, height: int, width: int, fill: float) -> Any:
    """Crop, padding with `fill` where the window leaves the image."""
    import torch

    h, w = x.shape[-2], x.shape[-1]
    if top >= 0 and left >= 0 and top + height <= h and left + width <= w:
        return x[..., top : top + height, left : left + width].clone()
    out = torch.full((*x.shape[:-2], height, width), fill, dtype=x.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + height, h), min(left + width, w)
    if src_bottom > src_top and src_right > src_left:
        out[..., src_top - top : src_bottom - top, src_left - left : src_right - left] = x[
            ..., src_top:src_bottom, src_left:src_right
        ]
    return out


class CenterCrop:
    """The central ``size`` (int or [height, width]) window; pads with 0 if the image is smaller."""

    def __init__(self, size: Any) -> None:
        self.size = _pair(size, "size")

    def __call__(self, x: Any) -> Any:
        x = _as_image_tensor(x)
        height, width = self.size
        top = int(round((x.shape[-2] - height) / 2.0))
        left = int(round((x.shape[-1] - width) / 2.0))
        return _crop(x, top, left, height, width, 0.0)


class RandomCrop:
    """A random ``size`` window after padding every side by ``padding`` pixels of ``fill``."""

    def __init__(self, size: Any, padding: int = 0, fill: float = 0.0, pad_if_needed: bool = False) -> None:
        self.size = _pair(size, "size")
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = padding
        self.fill = float(fill)
        self.pad_if_needed = bool(pad_if_needed)

    def __call__(self, x: Any) -> Any:
        import torch

        x = _as_image_tensor(x)
        height, width = self.size
        span_h = x.shape[-2] + 2 * self.padding - height
        span_w = x.shape[-1] + 2 * self.padding - width
        if (span_h < 0 or span_w < 0) and not self.pad_if_needed:
            raise ValueError(
                f"RandomCrop of {height}x{width} does not fit an image of {x.shape[-2]}x{x.shape[-1]} "
                f"with padding {self.padding} (set pad_if_needed)"
            )
        top = int(torch.randint(0, max(span_h, 0) + 1, (1,)).item()) - self.padding
        left = int(torch.randint(0, max(span_w, 0) + 1, (1,)).item()) - self.padding
        if span_h < 0:
            top = span_h // 2 - self.padding
        if span_w < 0:
            left = span_w // 2 - self.padding
        return _crop(x, top, left, height, width, self.fill)


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability(p)

    def __call__(self, x: Any) -> Any:
        import torch

        x = _as_image_tensor(x)
        return x.flip(-1) if torch.rand(1).item() < self.p else x


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = _probability(p)

    def __call__(self, x: Any) -> Any:
        import torch

        x = _as_image_tensor(x)
        return x.flip(-2) if torch.rand(1).item() < self.p else x


class Grayscale:
    """RGB -> luma (ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B), repeated to ``num_output_channels``."""

    def __init__(self, num_output_channels: int = 1) -> None:
        if num_output_channels not in (1, 3):
            raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels!r}")
        self.num_output_channels = num_output_channels

    def __call__(self, x: Any) -> Any:
        x = _as_image_tensor(x)
        if x.dim() >= 3 and x.shape[-3] == 3:
            gray = (0.299 * x[..., 0, :, :] + 0.587 * x[..., 1, :, :] + 0.114 * x[..., 2, :, :]).unsqueeze(-3)
        else:
            gray = x if x.dim() >= 3 else x.unsqueeze(0)
        return gray.expand(*gray.shape[:-3], self.num_output_channels, *gray.shape[-2:]).clone().to(x.dtype)


TRANSFORMATIONS: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ToTensor,
        ToFloat,
        Normalize,
        Resize,
        CenterCrop,
        RandomCrop,
        RandomHorizontalFlip,
        RandomVerticalFlip,
        Grayscale,
    )
}


class Compose:
    """Apply transformations in order (picklable)."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self) -> str:
        return f"Compose({[type(t).__name__ for t in self.transforms]})"


def _build_one(spec: Any, where: str) -> Callable[[Any], Any]:
    name, args, kwargs = parse_call(spec, where)
    if name not in TRANSFORMATIONS:
        raise DataConfigError(f"{where}: unknown transformation {name!r} (known: {', '.join(sorted(TRANSFORMATIONS))})")
    cls = TRANSFORMATIONS[name]
    try:
        inspect.signature(cls).bind(*args, **kwargs)
        return cls(*args, **kwargs)  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise DataConfigError(f"{where}: {name}: {exc}") from exc


def build_transform(specs: Sequence[Any] | None, where: str = "data.transformations") -> Compose | None:
    """The composed transformation of `specs` (see the package docstring), None when empty."""
    if not specs:
        return None
    if isinstance(specs, str | dict):
        raise DataConfigError(f"{where}: must be a list of transformations")
    return Compose([_build_one(spec, f"{where}[{i}]") for i, spec in enumerate(specs)])


def check_transformations(specs: Any, where: str = "data.transformations") -> list[str]:
    """One problem line per unusable transformation (nothing heavy is imported)."""
    if not specs:
        return []
    if not isinstance(specs, list | tuple):
        return [f"{where}: must be a list of transformations"]
    problems = []
    for i, spec in enumerate(specs):
        try:
            _build_one(spec, f"{where}[{i}]")
        except DataConfigError as exc:
            problems.append(str(exc))
    return problems
