"""securemq.security.keys: CURVE key pairs, checked against libzmq through pyzmq."""

from __future__ import annotations

import builtins
import subprocess
import sys
from typing import Any

import pytest
import zmq

from securemq.constants import EINVAL, ENOTSUP
from securemq.error import ZMQError
from securemq.security.keys import curve_keypair, curve_public
from securemq.utils import z85

# RFC 26's example keys, as libzmq's tests use them.
KEY_PUBLIC = b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
KEY_SECRET = b"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"


def test_keypair_is_two_valid_z85_keys() -> None:
    public, secret = curve_keypair()
    for key in (public, secret):
        assert isinstance(key, bytes)
        assert len(key) == 40
        assert len(z85.decode(key)) == 32
    assert public != secret


def test_keypairs_differ() -> None:
    assert len({curve_keypair()[1] for _ in range(8)}) == 8


def test_public_key_matches_secret() -> None:
    public, secret = curve_keypair()
    assert curve_public(secret) == public
    assert curve_public(secret.decode("ascii")) == public


def test_rfc_example_keys() -> None:
    assert curve_public(KEY_SECRET) == KEY_PUBLIC


def test_agrees_with_libzmq() -> None:
    for _ in range(8):
        public, secret = curve_keypair()
        assert zmq.curve_public(secret) == public
        z_public, z_secret = zmq.curve_keypair()
        assert curve_public(z_secret) == z_public


@pytest.mark.parametrize("bad", [b"", KEY_SECRET[:39], KEY_SECRET + b"0", "é" * 40])
def test_wrong_length_is_value_error_like_pyzmq(bad: bytes | str) -> None:
    with pytest.raises(ValueError, match="40 byte z85"):
        curve_public(bad)
    with pytest.raises(ValueError, match="40 byte z85"):
        zmq.curve_public(bad)


@pytest.mark.parametrize("bad", [b"#" * 40, KEY_SECRET[:-1] + b"~", bytes(40)])
def test_bad_z85_is_einval_like_libzmq(bad: bytes) -> None:
    with pytest.raises(ZMQError) as info:
        curve_public(bad)
    assert info.value.errno == EINVAL
    assert bad.decode("latin-1") not in str(info.value)  # a secret is never echoed
    with pytest.raises(zmq.ZMQError) as z_info:
        zmq.curve_public(bad)
    assert z_info.value.errno == zmq.EINVAL


def test_missing_pynacl_is_enotsup(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_nacl(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "nacl" or name.startswith("nacl."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_nacl)
    for call in (curve_keypair, lambda: curve_public(KEY_SECRET)):
        with pytest.raises(ZMQError) as info:
            call()
        assert info.value.errno == ENOTSUP
        assert "pynacl" in str(info.value).lower()


def test_import_securemq_does_not_import_nacl() -> None:
    """PyNaCl is optional: importing the package and the keys module must not load it."""
    code = ("import sys, securemq, securemq.security.keys, securemq.security.plain; "
            "print('nacl' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=30)
    assert result.stdout.strip() == "False"
