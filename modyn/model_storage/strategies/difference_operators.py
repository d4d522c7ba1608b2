"""Difference operators of WeightsDifference: exact, invertible differences of raw tensor bytes.

Both work on the bit patterns of the elements, never on float values, so `apply(base, diff(base, new))`
is bit-identical to `new` for every dtype (a float subtraction `new - base` would round and lose it):
  - `sub`: each element's bit pattern, read as an unsigned integer of the element's width, minus the
    base's, modulo 2**bits. A weight that moved a little keeps its sign and exponent, so the high
    bytes of the difference are zero.
  - `xor`: bitwise XOR of the bit patterns; zero wherever a bit did not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class DifferenceOperator(ABC):
    name: str = ""

    @abstractmethod
    def diff(self, base: np.ndarray, new: np.ndarray, element_size: int) -> np.ndarray:
        """The difference of two equally long uint8 arrays of elements of `element_size` bytes."""

    @abstractmethod
    def apply(self, base: np.ndarray, difference: np.ndarray, element_size: int) -> np.ndarray:
        """Undo `diff`: the new bytes from the base and the difference."""


def _as_uint(data: np.ndarray, element_size: int) -> np.ndarray:
    if element_size not in _UINT:
        # Odd widths (none in torch today) fall back to bytes: still exact.
        element_size = 1
    return data.view(_UINT[element_size])


class SubDifference(DifferenceOperator):
    """Modular integer subtraction of the elements' bit patterns."""

    name = "sub"

    def diff(self, base: np.ndarray, new: np.ndarray, element_size: int) -> np.ndarray:
        result = _as_uint(new, element_size) - _as_uint(base, element_size)
        return result.view(np.uint8)

    def apply(self, base: np.ndarray, difference: np.ndarray, element_size: int) -> np.ndarray:
        result = _as_uint(base, element_size) + _as_uint(difference, element_size)
        return result.view(np.uint8)


class XorDifference(DifferenceOperator):
    """Bitwise XOR of the bit patterns."""

    name = "xor"

    def diff(self, base: np.ndarray, new: np.ndarray, element_size: int) -> np.ndarray:
        return np.bitwise_xor(base, new)

    def apply(self, base: np.ndarray, difference: np.ndarray, element_size: int) -> np.ndarray:
        return np.bitwise_xor(base, difference)


DIFFERENCE_OPERATORS: dict[str, DifferenceOperator] = {"sub": SubDifference(), "xor": XorDifference()}
