"""Fuzz the ZMTP frame decoder.

Input: a control octet (maxmsgsize choice and commands-only mode), a split-plan octet,
then the byte stream. Invariant: the stream decodes, or ``feed`` raises a
``ProtocolError``; the result is the same however the stream is split; the decoder never
holds more octets than it was given; what decodes re-encodes to the same messages.
"""

from __future__ import annotations

from securemq.error import ProtocolError
from securemq.zmtp.frames import Buffer, FrameDecoder, encode_messages

from ._common import buffered, chunks, run_main

LIMITS = (-1, 0, 1, 255, 256, 1000, 40000, 1 << 20)

Item = tuple[str, object]


def decode(data: bytes, plan: int, limit: int, commands_only: bool
           ) -> tuple[list[Item], type[ProtocolError] | None]:
    dec = FrameDecoder(limit)
    dec.commands_only = commands_only
    items: list[Item] = []
    fed = 0
    try:
        for piece in chunks(data, plan):
            fed += len(piece)
            more = piece
            while True:
                items.extend(("msg", m) for m in dec.feed(more))
                assert buffered(dec) <= fed, "decoder holds more than it was fed"
                if dec.command is None:
                    break
                items.append(("cmd", dec.command))
                dec.command = None
                more = b""
        if dec.error is not None:
            dec.feed(b"")
            raise AssertionError("a failed decoder must raise")
    except ProtocolError as exc:
        assert dec.error is exc
        assert not dec.pending
        # Failed for good: every later call raises the same error.
        try:
            dec.feed(b"\x00\x00")
        except ProtocolError as again:
            assert again is exc
        else:
            raise AssertionError("a failed decoder accepted more input") from None
        return items, type(exc)
    return items, None


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    ctrl, plan, stream = data[0], data[1], data[2:]
    limit = LIMITS[ctrl % len(LIMITS)]
    commands_only = bool(ctrl & 0x80)
    whole = decode(stream, 0, limit, commands_only)
    assert decode(stream, plan, limit, commands_only) == whole, "split changed the result"
    if commands_only:
        assert not any(kind == "msg" for kind, _ in whole[0])
    messages = [m for kind, m in whole[0] if kind == "msg"]
    if messages:
        out: list[Buffer] = []
        encode_messages(messages, out)  # type: ignore[arg-type]
        again, error = decode(b"".join(bytes(b) for b in out), plan, -1, False)
        assert error is None and [m for _, m in again] == messages


def main() -> None:
    run_main(TestOneInput)


if __name__ == "__main__":
    main()
