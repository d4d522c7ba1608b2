"""Compiling the Python functions users put in a pipeline config (bytes parser, label transformer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class UserFunctionError(ValueError):
    pass


def compile_user_function(source: str, name: str) -> Callable[..., Any] | None:
    """Execute `source` and return the function called `name` it defines; None for empty source."""
    if not source or not source.strip():
        return None
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102 - user code by design
    except Exception as exc:
        raise UserFunctionError(f"{name}: cannot compile: {type(exc).__name__}: {exc}") from exc
    function = namespace.get(name)
    if not callable(function):
        raise UserFunctionError(f"{name}: the source must define a function named '{name}'")
    return function
