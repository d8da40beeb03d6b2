"""Z85 (RFC 32): printable text for binary data, the format of CURVE keys.

Same names and results as pyzmq's ``zmq.utils.z85``. Unlike pyzmq, every malformed input
raises ``ValueError`` (pyzmq lets ``KeyError`` or ``struct.error`` escape), and never a
partial result: the whole input is checked before anything is returned.

Performance: both directions work on whole 4-octet groups. Octets become big-endian
32-bit words with one ``struct`` call; text becomes digit values with one
``bytes.translate``, and the five digits of each group are read with strided slices, so
the only Python-level loop is one short expression per group (8 for a key).
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["Z85CHARS", "Z85MAP", "decode", "encode"]

#: The 85 characters, by value (RFC 32 "Formal Specification").
Z85CHARS: Final = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   b".-:+=^!/*?&<>()[]{}@%$#")
#: Character (as an int) to value, as in pyzmq.
Z85MAP: Final[dict[int, int]] = {c: i for i, c in enumerate(Z85CHARS)}

_BAD: Final = 0xFF  # translate() marker for a character outside the alphabet
# Octet -> digit value, or _BAD.
_DIGITS: Final = bytes(Z85MAP.get(c, _BAD) for c in range(256))
# Every value below 85**2 as its two characters: a word is 1 + 2 + 2 characters.
_PAIRS: Final = tuple(bytes((Z85CHARS[i // 85], Z85CHARS[i % 85])) for i in range(85 * 85))
_SINGLES: Final = tuple(bytes((c,)) for c in Z85CHARS)
_P2: Final = 85 * 85
_P4: Final = _P2 * _P2
_U32_MAX: Final = 0xFFFFFFFF


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """Encode octets as Z85 text, five characters per four octets.

    RFC 32 leaves padding to the application, so the length must already be a multiple
    of 4.

    Raises:
        ValueError: the length is not a multiple of 4.
    """
    raw = data if isinstance(data, bytes) else bytes(data)
    if len(raw) % 4:
        raise ValueError(f"Z85 encodes groups of 4 octets; got {len(raw)} octets")
    words = struct.unpack(f">{len(raw) // 4}I", raw)
    pairs, singles = _PAIRS, _SINGLES
    parts: list[bytes] = []
    for word in words:
        # RFC 32: most significant digit first. word < 2**32 < 85**5, so top < 85.
        top, low = divmod(word, _P2)
        top, mid = divmod(top, _P2)
        parts += (singles[top], pairs[mid], pairs[low])
    return b"".join(parts)


def decode(text: bytes | bytearray | memoryview | str) -> bytes:
    """Decode Z85 text into octets, four per five characters.

    ``text`` may be a ``str`` of ASCII characters, as pyzmq accepts.

    Raises:
        ValueError: the length is not a multiple of 5, a character is outside the Z85
            alphabet, or a group of five decodes above 2**32 - 1 (``#####``). The
            message gives the offset only, never the text: it may be a secret key.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("Z85 text must be ASCII") from None
    else:
        raw = text if isinstance(text, bytes) else bytes(text)
    if len(raw) % 5:
        raise ValueError(f"Z85 text comes in groups of 5 characters; got {len(raw)}")
    digits = raw.translate(_DIGITS)
    bad = digits.find(_BAD)
    if bad >= 0:
        raise ValueError(f"invalid Z85 character at offset {bad}")
    # RFC 32: each group is accumulated by multiplication by 85, most significant first.
    words = [
        a * _P4 + b * (85 * 85 * 85) + c * _P2 + d * 85 + e
        for a, b, c, d, e in zip(digits[0::5], digits[1::5], digits[2::5], digits[3::5],
                                 digits[4::5], strict=True)
    ]
    if words and max(words) > _U32_MAX:
        group = next(i for i, w in enumerate(words) if w > _U32_MAX)
        raise ValueError(f"Z85 group at offset {group * 5} is above 2**32 - 1")
    return struct.pack(f">{len(words)}I", *words)
