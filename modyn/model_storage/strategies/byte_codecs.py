"""Byte-level codecs used by the storage strategies: byte shuffling, run-length encoding, zlib.

- Byte shuffle groups byte k of every element together (as Blosc does), so that the zero high bytes of
  a weight difference form long runs.
- RLE (a PackBits-like scheme, vectorised with numpy): runs of at least MIN_RUN equal bytes become
  (length, value) pairs, everything between them stays literal, so incompressible data grows by only
  a few bytes per segment.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

#: Shorter runs cost more as a segment of their own than they save.
MIN_RUN = 24
_HEADER = struct.Struct("<QQQQ")  # segments, literal bytes, repeats, decoded length


def shuffle(data: np.ndarray, element_size: int) -> np.ndarray:
    if element_size <= 1 or data.size == 0:
        return data
    return np.ascontiguousarray(data.reshape(-1, element_size).T).reshape(-1)


def unshuffle(data: np.ndarray, element_size: int) -> np.ndarray:
    if element_size <= 1 or data.size == 0:
        return data
    return np.ascontiguousarray(data.reshape(element_size, -1).T).reshape(-1)


def rle_encode(data: np.ndarray) -> bytes:
    n = int(data.size)
    if n == 0:
        return _HEADER.pack(0, 0, 0, 0)
    starts = np.concatenate(([0], np.flatnonzero(data[1:] != data[:-1]) + 1))
    lengths = np.diff(np.concatenate((starts, [n])))
    long = lengths >= MIN_RUN
    # A segment starts at every long run and at every short run that follows a long one (or opens the data).
    previous_long = np.concatenate(([True], long[:-1]))
    segment_starts = np.flatnonzero(long | previous_long)
    kinds = long[segment_starts].astype(np.uint8)  # 1: repeat, 0: literal
    segment_lengths = np.add.reduceat(lengths, segment_starts).astype(np.uint64)
    repeat_values = data[starts[long]].astype(np.uint8)
    literal = data[np.repeat(~long, lengths)]
    header = _HEADER.pack(len(kinds), literal.size, repeat_values.size, n)
    return header + kinds.tobytes() + segment_lengths.tobytes() + repeat_values.tobytes() + literal.tobytes()


def rle_decode(encoded: bytes) -> np.ndarray:
    if len(encoded) < _HEADER.size:
        raise ValueError("RLE data is shorter than its header")
    num_segments, num_literal, num_repeats, decoded_length = _HEADER.unpack_from(encoded)
    expected = _HEADER.size + num_segments * 9 + num_repeats + num_literal
    if len(encoded) != expected:
        raise ValueError(f"RLE data has {len(encoded)} bytes, its header announces {expected}")
    offset = _HEADER.size
    kinds = np.frombuffer(encoded, np.uint8, num_segments, offset)
    offset += num_segments
    segment_lengths = np.frombuffer(encoded, np.uint64, num_segments, offset).astype(np.int64)
    offset += num_segments * 8
    repeat_values = np.frombuffer(encoded, np.uint8, num_repeats, offset)
    offset += num_repeats
    literal = np.frombuffer(encoded, np.uint8, num_literal, offset)
    if num_segments == 0:
        return np.zeros(0, dtype=np.uint8)
    # One token per literal byte and per repeat; each token expands to `count` copies of its value.
    is_repeat = kinds == 1
    tokens_per_segment = np.where(is_repeat, 1, segment_lengths)
    token_is_repeat = np.repeat(is_repeat, tokens_per_segment)
    values = np.empty(token_is_repeat.size, dtype=np.uint8)
    values[token_is_repeat] = repeat_values
    values[~token_is_repeat] = literal
    counts = np.ones(token_is_repeat.size, dtype=np.int64)
    counts[token_is_repeat] = segment_lengths[is_repeat]
    decoded = np.repeat(values, counts)
    if decoded.size != decoded_length:
        raise ValueError(f"RLE data decodes to {decoded.size} bytes, its header announces {decoded_length}")
    return decoded


def zip_bytes(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def unzip_bytes(data: bytes) -> bytes:
    return zlib.decompress(data)
