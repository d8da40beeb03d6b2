"""CURVE long-term key pairs in Z85, like pyzmq's ``zmq.curve_keypair`` and ``zmq.curve_public``.

The arithmetic is Curve25519 from libsodium through PyNaCl, imported only when a
function here is called, so that ``import securemq`` (and NULL or PLAIN security) works
without PyNaCl. :func:`curve_keypair` is the one place in ``security`` that draws
randomness (libsodium's ``randombytes``): a key generator has no other use. Code that
needs deterministic keys derives the public key from a known secret with
:func:`curve_public`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..constants import EINVAL, ENOTSUP
from ..error import ZMQError
from ..utils import z85

if TYPE_CHECKING:
    from nacl.public import PrivateKey

__all__ = ["curve_keypair", "curve_public"]

#: Octets in a Curve25519 key (RFC 26), and characters in its Z85 form (RFC 32).
KEY_SIZE = 32
Z85_KEY_SIZE = 40


def _private_key_class() -> type[PrivateKey]:
    """Import PyNaCl's ``PrivateKey`` on first use.

    Raises:
        ZMQError: ENOTSUP when PyNaCl is not installed, the errno libzmq gives when it
            was built without CURVE.
    """
    try:
        from nacl.public import PrivateKey  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ZMQError(
            ENOTSUP, "CURVE security needs PyNaCl: pip install 'pynacl>=1.5'"
        ) from None
    return PrivateKey


def curve_keypair() -> tuple[bytes, bytes]:
    """Generate a new CURVE key pair; return (public, secret) as 40-character Z85 bytes.

    Raises:
        ZMQError: ENOTSUP when PyNaCl is not installed.
    """
    secret = _private_key_class().generate()
    return z85.encode(bytes(secret.public_key)), z85.encode(bytes(secret))


def curve_public(secret_key: bytes | str) -> bytes:
    """Return the Z85 public key that belongs to a Z85 secret key.

    Follows pyzmq: a ``str`` is encoded first, and the key must be 40 characters.

    Raises:
        ValueError: the key is not 40 characters long (as pyzmq raises).
        ZMQError: EINVAL when it is not valid Z85 (as libzmq refuses it); ENOTSUP
            when PyNaCl is not installed.
    """
    if isinstance(secret_key, str):
        secret_key = secret_key.encode("utf-8")
    if len(secret_key) != Z85_KEY_SIZE:
        raise ValueError("secret key must be a 40 byte z85 encoded string")
    try:
        raw = z85.decode(secret_key)
    except ValueError:
        # The reason names only an offset, but keep even that out: this is a secret.
        raise ZMQError(EINVAL, "secret key is not valid Z85") from None
    private_key = _private_key_class()(raw)
    return z85.encode(bytes(private_key.public_key))
