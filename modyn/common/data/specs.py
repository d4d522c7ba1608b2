"""Parsing transformation specs (names, torchvision-style call strings, mappings) without torch."""

from __future__ import annotations

import ast
from typing import Any


class DataConfigError(ValueError):
    """A parser or transformation in a config is unusable; the message starts with its YAML path."""


def parse_call(spec: Any, where: str) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """(name, positional args, keyword args) of one transformation spec.

    Accepted: ``"Name"``, ``"Name(arg, key=value)"``, ``"transforms.Name(...)"`` (arguments are
    Python literals) and ``{"name": "Name", "key": value, ...}``.
    """
    if isinstance(spec, dict):
        if not isinstance(spec.get("name"), str):
            raise DataConfigError(f"{where}: a mapping needs a string 'name'")
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        return spec["name"], (), kwargs
    if not isinstance(spec, str) or not spec.strip():
        raise DataConfigError(f"{where}: must be a transformation name, call string or mapping, got {spec!r}")
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as exc:
        raise DataConfigError(f"{where}: cannot parse {spec!r}: {exc.msg}") from exc
    call_args: list[ast.expr] = []
    call_kwargs: list[ast.keyword] = []
    if isinstance(node, ast.Call):
        call_args, call_kwargs = node.args, node.keywords
        node = node.func
    if isinstance(node, ast.Attribute):
        name = node.attr  # transforms.Normalize / torchvision.transforms.Normalize
    elif isinstance(node, ast.Name):
        name = node.id
    else:
        raise DataConfigError(f"{where}: cannot parse {spec!r} as a transformation")
    try:
        args = tuple(ast.literal_eval(a) for a in call_args)
        kwargs = {}
        for keyword in call_kwargs:
            if keyword.arg is None:
                raise ValueError("**kwargs")
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except ValueError as exc:
        raise DataConfigError(f"{where}: the arguments of {spec!r} must be literals (numbers, tuples, ...)") from exc
    return name, args, kwargs
