"""The ZMTP 3.x connection state machine, sans I/O.

Theory of operation: a :class:`Connection` is fed the bytes read from a stream with
:meth:`Connection.receive_data` and returns a list of events; whatever it wants written
is collected by :meth:`Connection.data_to_send`. It goes through three states, each named
after what it waits for next:

``EXPECT_GREETING``
    Our 64-octet greeting is queued at once. The peer's greeting is checked octet by
    octet, so that ZMTP 1.0/2.0 peers and garbage are refused without waiting for all 64.
``EXPECT_HANDSHAKE``
    Commands go to the security mechanism until it reports ``done``. A message frame here
    is a protocol error, refused on its flags octet (the decoder is ``commands_only``),
    so no part of a message is held across the handshake. Frames are capped at
    ``HANDSHAKE_FRAME_LIMIT`` octets: an unauthenticated peer cannot make us hold more.
``TRAFFIC``
    Messages are decoded in batches; PING is answered with PONG; other commands are
    reported to the driver. With a mechanism that encrypts (CURVE), every frame travels
    as one sealed MESSAGE with outer flags 0, its MORE and COMMAND flags inside the box,
    as libzmq does; commands (PING, SUBSCRIBE...) are sealed too.

A server mechanism that needs a ZAP handler pauses the handshake: the connection reports
:class:`ZapRequested` and resumes when the driver calls :meth:`Connection.zap_reply`.

A protocol violation moves the connection to ``CLOSED`` and is reported as the last event
(after any messages that arrived intact before it), never raised to the driver. Time is
an argument: :meth:`get_timer` tells when :meth:`handle_timer` must be called, and
:meth:`update_timers` starts the timers that input asked for (after the handshake, after
a PING with a TTL).

Heartbeats (RFC 37): with ``heartbeat_ivl`` we send a PING every interval; if nothing at
all arrives within ``heartbeat_timeout`` of a PING, the connection is dead. A peer's
PING may carry a TTL: if nothing arrives from it within that time, likewise. Any input
counts as a sign of life, as in libzmq, so a busy connection never times out.

Threads: the driver may encode messages in one thread while another decodes. The only
output decoding produces (PONG) goes through a deque that :meth:`data_to_send` drains,
so the two never interleave buffers in one list.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Sequence

from ..error import MechanismMismatch, ProtocolError, UnexpectedCommand, UnspecifiedProtocolError
from ..security.base import Mechanism, error_from_peer
from .commands import command_body, parse_ping, split_command
from .events import (
    CommandReceived,
    ConnectionClosed,
    Event,
    HandshakeComplete,
    MessagesReceived,
    ZapRequested,
)
from .frames import Buffer, FrameDecoder, encode_messages, frame_header
from .greeting import (
    GREETING_SIZE,
    VERSION_MINOR,
    PeerGreeting,
    build_greeting,
    check_signature_prefix,
    parse_greeting,
)

_U16 = struct.Struct(">H")
_MORE = 0x01  # inner flags of a sealed frame (libzmq's, inside a CURVE MESSAGE box)
_COMMAND = 0x02
#: libzmq 4.3.5 writes its PLAIN ERROR name as ``"\x05ERROR"`` in C++, where the hex
#: escape swallows the E: the body starts ``^RROR``. We read it as the ERROR it means.
_LIBZMQ_PLAIN_ERROR = b"^RROR"

#: Largest frame accepted before the handshake is done (metadata of a 255-octet routing
#: id and generous application properties fit easily).
HANDSHAKE_FRAME_LIMIT = 64 * 1024


class State(enum.Enum):
    """What the connection expects next."""

    EXPECT_GREETING = "expect-greeting"
    EXPECT_HANDSHAKE = "expect-handshake"
    TRAFFIC = "traffic"
    CLOSED = "closed"


class Connection:
    """One ZMTP 3.x session over a reliable byte stream.

    Args:
        mechanism: the security mechanism, already configured for its role.
        maxmsgsize: largest message frame accepted in traffic, -1 for no limit.
        handshake_deadline: absolute time by which the handshake must be complete, or
            None for no limit (``handshake_ivl`` of 0).
        heartbeat_ivl: seconds between our PINGs, 0 for none.
        heartbeat_timeout: seconds to wait for any input after a PING (0: the interval).
        heartbeat_ttl: seconds the peer should wait for input from us (sent in PING,
            in tenths of a second; 0 for none).
    """

    #: Never set for ZMTP (STREAM's raw connection closes on an empty frame).
    close_requested = False

    def __init__(self, mechanism: Mechanism, maxmsgsize: int = -1,
                 handshake_deadline: float | None = None, heartbeat_ivl: float = 0.0,
                 heartbeat_timeout: float = 0.0, heartbeat_ttl: float = 0.0) -> None:
        self.mechanism = mechanism
        self.state = State.EXPECT_GREETING
        self.maxmsgsize = maxmsgsize
        self.peer_greeting: PeerGreeting | None = None
        self.peer_metadata: dict[str, bytes] = {}
        self._greeting_buf = b""
        self._decoder = FrameDecoder(HANDSHAKE_FRAME_LIMIT)
        self._decoder.commands_only = True
        self._out: list[Buffer] = [build_greeting(mechanism.name, mechanism.as_server)]
        self._deadline = handshake_deadline
        # Commands produced while decoding (PONG, PING), appended by the reading
        # thread and drained by the writing one.
        self._control: deque[bytes] = deque()
        self._hb_ivl = heartbeat_ivl
        self._hb_timeout = heartbeat_timeout or heartbeat_ivl
        self._ping_body = command_body(b"PING", _U16.pack(min(int(heartbeat_ttl * 10),
                                                               0xFFFF)))
        self._next_ping: float | None = None
        self._pong_deadline: float | None = None
        self._ttl_deadline: float | None = None
        self._peer_ttl = 0.0
        self._sealed = mechanism.encrypts
        #: Seal a frame and put the frame header in front (encrypting mechanisms).
        self._seal_frame = mechanism.seal_frame
        self._partial: list[bytes] = []  # frames of a sealed message still arriving
        #: Input asked for a timer: the driver should call :meth:`update_timers`.
        self.timers_pending = False

    # -- output ----------------------------------------------------------------------

    def data_to_send(self) -> list[Buffer]:
        """Take the buffers queued for the peer, in order; the caller writes them all."""
        control = self._control
        while control:
            self._queue_command(control.popleft())
        out = self._out
        self._out = []
        return out

    @property
    def peer_minor(self) -> int:
        """The peer's ZMTP minor version once known: 0 for 3.0, 1 for 3.1 and later."""
        g = self.peer_greeting
        if g is None:
            return 1
        return g.minor if g.major == 3 else 1

    def has_output(self) -> bool:
        """True when :meth:`data_to_send` has something."""
        return bool(self._out) or bool(self._control)

    def send_messages(self, messages: Sequence[Sequence[Buffer]]) -> int:
        """Queue messages for the peer; return the number of octets queued.

        Only valid in ``TRAFFIC``: the driver holds messages until the handshake is done.
        """
        if self.state is not State.TRAFFIC:
            if self.state is State.CLOSED:
                return 0  # failed on input meanwhile: dropped with the connection
            raise RuntimeError("messages can only be sent after the handshake")
        if not self._sealed:
            return encode_messages(messages, self._out)
        try:
            return self.mechanism.seal_messages(messages, self._out.append)
        except RuntimeError:
            if self._closed_meanwhile():
                return 0
            raise

    def _closed_meanwhile(self) -> bool:
        """Whether the reading thread failed the connection (and wiped the session key)
        while this thread was sealing: the mechanism then refuses to seal."""
        return self.state is State.CLOSED

    def send_command(self, name: bytes, data: bytes = b"") -> None:
        """Queue a traffic command such as SUBSCRIBE, CANCEL or PING."""
        self._queue_command(command_body(name, data))

    def _queue_command(self, body: bytes) -> None:
        if self._sealed:
            state = self.state  # read once: the reading thread may close it meanwhile
            if state is State.TRAFFIC:
                try:
                    self._out.append(self._seal_frame(_COMMAND, body))
                except RuntimeError:
                    if not self._closed_meanwhile():
                        raise  # else it is never sent
                return
            if state is State.CLOSED:
                return  # the session key is wiped; a command must not go out in the clear
        self._out.append(frame_header(len(body), command=True))
        self._out.append(body)

    # -- timers ----------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None."""
        if self.state is State.TRAFFIC:
            times = [t for t in (self._next_ping, self._pong_deadline, self._ttl_deadline)
                     if t is not None]
            return min(times) if times else None
        if self.state is State.CLOSED:
            return None
        return self._deadline

    def update_timers(self, now: float) -> None:
        """Start the timers that input asked for; call after events other than messages."""
        if not self.timers_pending:
            return
        self.timers_pending = False
        if self._hb_ivl and self._next_ping is None:
            self._next_ping = now + self._hb_ivl
        if self._peer_ttl and self._ttl_deadline is None:
            self._ttl_deadline = now + self._peer_ttl
        self._peer_ttl = 0.0

    def handle_timer(self, now: float) -> list[Event]:
        """Let time pass: send a due PING, or close a connection whose time is up.

        A close is reported as a :class:`ConnectionClosed` event; the driver treats it
        as a lost connection (libzmq reconnects), not as a protocol error.
        """
        if self.state is not State.TRAFFIC:
            if self._deadline is not None and now >= self._deadline and \
                    self.state is not State.CLOSED:
                return self._fail(UnspecifiedProtocolError("handshake timed out"), [])
            return []
        if self._pong_deadline is not None and now >= self._pong_deadline:
            return self._fail(UnspecifiedProtocolError("no input since our PING"), [])
        if self._ttl_deadline is not None and now >= self._ttl_deadline:
            return self._fail(UnspecifiedProtocolError("the peer's heartbeat TTL expired"),
                              [])
        if self._next_ping is not None and now >= self._next_ping:
            self._control.append(self._ping_body)
            if self._pong_deadline is None:
                self._pong_deadline = now + self._hb_timeout
            self._next_ping = now + self._hb_ivl
        return []

    # -- input -----------------------------------------------------------------------

    def receive_buffer(self) -> memoryview | None:
        """A buffer the driver may read the next octets into directly, or None.

        Offered while the body of a large message frame is arriving, so that it goes
        from the kernel into its final buffer; report the count with
        :meth:`received_into`.
        """
        if self.state is State.TRAFFIC:
            return self._decoder.large_buffer()
        return None

    def received_into(self, n: int) -> list[Event]:
        """Consume ``n`` octets written into :meth:`receive_buffer`'s buffer."""
        self._pong_deadline = self._ttl_deadline = None  # a sign of life
        try:
            messages = self._decoder.large_filled(n)
        except ProtocolError as exc:
            return self._fail(exc, [])
        if self._sealed:
            return self._after_sealed(messages, [])
        events: list[Event] = [MessagesReceived(messages)] if messages else []
        if self._decoder.command is None:
            return events
        return self._drain_commands(events)

    def receive_data(self, data: Buffer) -> list[Event]:
        """Consume bytes from the peer; return what happened, in order."""
        if self.state is State.TRAFFIC and self.mechanism.done:
            # Fast path: a chunk of traffic with no command in it yields one event.
            self._pong_deadline = self._ttl_deadline = None  # a sign of life
            decoder = self._decoder
            if self._sealed:
                try:
                    messages = decoder.feed(data)
                except ProtocolError as exc:
                    return self._fail(exc, [])
                return self._after_sealed(messages, [])
            try:
                messages = decoder.feed(data)
            except ProtocolError as exc:
                return self._fail(exc, [])
            if decoder.command is None and decoder.error is None:
                return [MessagesReceived(messages)] if messages else []
            events: list[Event] = [MessagesReceived(messages)] if messages else []
            if decoder.error is not None:
                # The messages before the bad frame are delivered, then the close.
                return self._fail(decoder.error, events)
            return self._drain_commands(events)
        if self.state is State.CLOSED:
            return []
        events = []
        try:
            if self.state is State.EXPECT_GREETING:
                data = self._receive_greeting(bytes(data))
                if self.state is State.EXPECT_GREETING:
                    return events
            messages = self._decoder.feed(data)
            if messages:
                raise UnexpectedCommand("message frame before the handshake completed")
        except ProtocolError as exc:
            return self._fail(exc, events)
        return self._drain_commands(events)

    def _receive_greeting(self, data: bytes) -> bytes:
        buf = self._greeting_buf + data
        check_signature_prefix(buf[:11])
        if len(buf) < GREETING_SIZE:
            self._greeting_buf = buf
            return b""
        self._greeting_buf = b""
        self.peer_greeting = parse_greeting(buf[:GREETING_SIZE], self.mechanism.name)
        if self.mechanism.name == b"NULL":
            # RFC 37 "The NULL Security Mechanism": the as-server field MUST be zero.
            if self.peer_greeting.as_server:
                raise MechanismMismatch("as-server must be 0 with the NULL mechanism")
        elif self.peer_greeting.as_server and self.mechanism.as_server:
            # Only two servers are caught here: libzmq 4.3.5 sends as-server 0 whatever
            # its role, so two clients are left to fail on the first command.
            raise MechanismMismatch("both peers claim the server role")
        self.state = State.EXPECT_HANDSHAKE
        self._queue_commands(self.mechanism.start())
        return buf[GREETING_SIZE:]

    def _drain_commands(self, events: list[Event]) -> list[Event]:
        """Handle the command that paused the decoder, then go on decoding, until done."""
        decoder = self._decoder
        try:
            while decoder.command is not None:
                body = decoder.command
                decoder.command = None
                if self.state is State.TRAFFIC:
                    if self._sealed:
                        # libzmq opens every traffic frame, whatever its outer flags.
                        return self._after_sealed([[body]], events)
                    name, data = split_command(body)
                    self._traffic_command(name, data, events)
                else:
                    if body.startswith(_LIBZMQ_PLAIN_ERROR):
                        name, data = b"ERROR", body[len(_LIBZMQ_PLAIN_ERROR):]
                    else:
                        name, data = split_command(body)
                    self._queue_commands(self.mechanism.receive_command(name, data))
                    self._after_mechanism(events)
                    if self._sealed and self.mechanism.done:
                        return self._after_sealed(decoder.feed(b""), events)
                messages = decoder.feed(b"")
                if messages:
                    if self.state is not State.TRAFFIC:
                        raise UnexpectedCommand("message frame before the handshake completed")
                    events.append(MessagesReceived(messages))
                if decoder.error is not None:
                    raise decoder.error
        except ProtocolError as exc:
            return self._fail(exc, events)
        return events

    def _after_mechanism(self, events: list[Event]) -> None:
        """Act on what the mechanism did with its input: ask ZAP, or start traffic."""
        mechanism = self.mechanism
        if mechanism.zap_request is not None:
            events.append(ZapRequested(mechanism.zap_request))
            mechanism.zap_request = None
        if mechanism.done:
            self._enter_traffic(events)

    def zap_reply(self, frames: list[bytes]) -> list[Event]:
        """Resume the handshake with the ZAP handler's reply (the driver got it)."""
        if self.state is not State.EXPECT_HANDSHAKE:
            return []
        events: list[Event] = []
        try:
            self._queue_commands(self.mechanism.receive_zap_reply(frames))
            self._after_mechanism(events)
        except ProtocolError as exc:
            return self._fail(exc, events)
        return self._drain_commands(events)

    def _after_sealed(self, messages: list[list[bytes]], events: list[Event]) -> list[Event]:
        """Open sealed traffic frames: reassemble messages, act on sealed commands.

        Every frame the decoder returned is one MESSAGE (libzmq never sets the outer
        MORE), so they are opened in order whatever message they came grouped in.
        """
        open_frames = self.mechanism.open_frames
        partial = self._partial
        done: list[list[bytes]] = []
        decoder = self._decoder
        try:
            while True:
                opened: list[tuple[int, bytes]] = []
                failure = None
                try:
                    open_frames(messages, opened)
                except ProtocolError as exc:
                    failure = exc  # what opened before it is still delivered
                for flags, payload in opened:
                    if not flags and not partial:
                        done.append([payload])  # the common case: a one-frame message
                        continue
                    if flags & _COMMAND:
                        if done:
                            events.append(MessagesReceived(done))
                            done = []
                        name, data = split_command(payload)
                        self._traffic_command(name, data, events)
                    else:
                        partial.append(payload)
                        if not flags & _MORE:
                            done.append(partial)
                            partial = self._partial = []
                if failure is not None:
                    raise failure
                command = decoder.command
                if command is None:
                    break
                decoder.command = None
                try:
                    rest = decoder.feed(b"")
                except ProtocolError:
                    rest = []  # kept in decoder.error, raised once the command is opened
                messages = [[command], *rest]
            if done:
                events.append(MessagesReceived(done))
                done = []  # delivered: the handler below must not append them again
            if decoder.error is not None:
                raise decoder.error
        except ProtocolError as exc:
            if done:
                events.append(MessagesReceived(done))
            return self._fail(exc, events)
        return events

    def _enter_traffic(self, events: list[Event]) -> None:
        self.state = State.TRAFFIC
        mechanism = self.mechanism
        # As libzmq: the ZAP handler's properties override the peer's own, and the
        # User-Id it gave is a property of every message from this peer.
        self.peer_metadata = {**mechanism.peer_metadata, **mechanism.zap_properties}
        if mechanism.zap_answered:
            # libzmq takes User-Id from the reply's frame, even empty, never from the
            # handler's metadata.
            self.peer_metadata["user-id"] = mechanism.user_id
        self._decoder.maxmsgsize = self.maxmsgsize
        self._decoder.commands_only = False
        self._decoder.single_frames = self._sealed
        self._decoder.transient = self._sealed  # every frame is opened before we return
        assert self.peer_greeting is not None
        minor = self.peer_greeting.minor if self.peer_greeting.major == 3 else VERSION_MINOR
        events.append(HandshakeComplete(self.peer_metadata, minor))
        self.timers_pending = bool(self._hb_ivl)

    def _traffic_command(self, name: bytes, data: bytes, events: list[Event]) -> None:
        if name == b"PING":
            ttl, context = parse_ping(data)
            # RFC 37: a PING SHALL be answered with a PONG echoing the context.
            self._control.append(command_body(b"PONG", context))
            if ttl and self._ttl_deadline is None:
                self._peer_ttl = ttl / 10
                self.timers_pending = True
            events.append(CommandReceived(name, data))
        elif name == b"ERROR":
            raise error_from_peer(data)
        else:
            events.append(CommandReceived(name, data))

    def _queue_commands(self, bodies: list[bytes]) -> None:
        for body in bodies:
            self._out.append(frame_header(len(body), command=True))
            self._out.append(body)

    def _fail(self, exc: ProtocolError, events: list[Event]) -> list[Event]:
        if exc.error_reply is not None and self.state is not State.CLOSED:
            # A refused peer learns why (RFC 27 status in ERROR) before we close.
            self._out.append(frame_header(len(exc.error_reply), command=True))
            self._out.append(exc.error_reply)
        self.state = State.CLOSED
        self.wipe()
        events.append(ConnectionClosed(exc))
        return events

    def wipe(self) -> None:
        """Forget the mechanism's secrets; the driver calls it when the stream ends."""
        self.mechanism.wipe()
