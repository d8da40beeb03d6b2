"""Fuzz the command-body parsers: metadata property lists, command names, PING, ERROR.

Invariant: each parser returns a value or raises its documented ``ProtocolError``
subclass (``InvalidMetadata``, ``MalformedCommand``), nothing else; metadata that parses
re-encodes to metadata that parses the same.
"""

from __future__ import annotations

from securemq.error import InvalidMetadata, MalformedCommand, ProtocolError
from securemq.security.base import HandshakeConfig, error_from_peer
from securemq.security.null import NullMechanism
from securemq.zmtp.commands import decode_metadata, encode_metadata, parse_ping, split_command

from ._common import run_main

_LIMITS = (1 << 31, 0, 255, 65536)


def TestOneInput(data: bytes) -> None:
    limit = _LIMITS[data[0] % len(_LIMITS)] if data else 1 << 31
    for blob in (data, data[1:]):
        try:
            props = decode_metadata(blob, limit)
        except InvalidMetadata:
            pass
        else:
            assert all(len(v) <= limit for v in props.values())
            assert decode_metadata(encode_metadata(props.items())) == props

        mech = NullMechanism(HandshakeConfig(socket_type=6))  # ROUTER
        try:
            mech.receive_command(b"READY", blob)
        except InvalidMetadata:
            assert not mech.done
        else:
            assert mech.done
            assert mech.peer_metadata.get("socket-type") in (b"REQ", b"DEALER", b"ROUTER")

        try:
            name, rest = split_command(blob)
        except MalformedCommand:
            pass
        else:
            assert 1 <= len(name) <= 255 and bytes((len(name),)) + name + rest == blob

        try:
            ttl, context = parse_ping(blob)
        except MalformedCommand:
            pass
        else:
            assert 0 <= ttl < 65536 and len(context) <= 16

        assert isinstance(error_from_peer(blob), ProtocolError)


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
