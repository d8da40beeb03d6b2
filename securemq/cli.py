"""The ``securemq`` command line: CURVE keys and certificates, and a demo.

Commands: ``keygen`` makes a key pair (printed, or written as a certificate pair),
``pubkey`` prints the public key of a secret certificate, ``inspect`` shows a certificate,
``demo`` runs a CURVE exchange on loopback. Secret keys are never taken as arguments,
which would leave them in shell history and the process table.
"""

from __future__ import annotations

import argparse
import hmac
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence


def demo() -> int:
    """Run a CURVE-secured exchange on loopback, with a ZAP handler that refuses a stranger.

    Shows what a deployment looks like: the server admits clients by public key through a
    ZAP handler (RFC 27) that prints an audit line per decision; one client is known,
    one is not and is refused before any of its messages can reach the server.
    """
    import securemq as zmq  # noqa: PLC0415 - keep `securemq --help` fast
    from securemq.utils import z85  # noqa: PLC0415
    from securemq.utils.monitor import recv_monitor_message  # noqa: PLC0415

    server_public, server_secret = zmq.curve_keypair()
    alice_public, alice_secret = zmq.curve_keypair()
    mallory_public, mallory_secret = zmq.curve_keypair()
    allowed = {z85.decode(alice_public): b"alice"}

    with zmq.Context() as ctx:
        zap = ctx.socket(zmq.REP)
        zap.linger = 0
        zap.bind("inproc://zeromq.zap.01")

        def authenticate() -> None:
            while True:
                try:
                    version, request_id, domain, address, _identity, mechanism, *creds = \
                        zap.recv_multipart()
                except zmq.ZMQError:
                    return  # closed at the end of the demo
                user = allowed.get(creds[0]) if mechanism == b"CURVE" and creds else None
                key = z85.encode(creds[0]).decode() if creds else "-"
                print(f"  audit: domain={domain.decode()} address={address.decode()} "
                      f"mechanism={mechanism.decode()} key={key[:12]}... "
                      f"-> {'200 ' + user.decode() if user else '400 unknown key'}")
                zap.send_multipart([version, request_id, b"200" if user else b"400",
                                    b"OK" if user else b"unknown key", user or b"", b""])

        handler = threading.Thread(target=authenticate, daemon=True)
        handler.start()

        server = ctx.socket(zmq.REP)
        server.curve_server = True
        server.curve_secretkey = server_secret
        server.zap_domain = b"demo"
        port = server.bind_to_random_port("tcp://127.0.0.1")
        print(f"CURVE server on tcp://127.0.0.1:{port}, public key {server_public.decode()}")

        def client(public: bytes, secret: bytes) -> zmq.Socket:
            s = ctx.socket(zmq.REQ)
            s.curve_serverkey = server_public
            s.curve_publickey, s.curve_secretkey = public, secret
            return s

        alice = client(alice_public, alice_secret)
        alice.connect(f"tcp://127.0.0.1:{port}")
        for s in (server, alice):
            s.linger = 0
            s.rcvtimeo = 5000
        start = time.perf_counter()
        for i in range(3):
            alice.send_string(f"request {i}")
            frame = server.recv(copy=False)
            server.send_string(f"reply to {frame.bytes.decode()!r} "
                               f"from User-Id {frame.get('User-Id')!r}")
            print(f"  alice got: {alice.recv_string()}")
        print(f"3 encrypted round trips in {(time.perf_counter() - start) * 1000:.1f} ms")

        mallory = client(mallory_public, mallory_secret)
        mallory.linger = 0
        events = mallory.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        mallory.connect(f"tcp://127.0.0.1:{port}")
        mallory.send_string("let me in")
        if events.poll(5000):
            event = recv_monitor_message(events)
            print(f"  mallory refused: {zmq.Event(event['event']).name} "
                  f"(ZAP status {event['value']}); her request never reached the server")
        refused = not server.poll(250)
        mallory.disable_monitor()
        events.close()
        for s in (server, alice, mallory, zap):
            s.close()
    print("demo finished" if refused else "demo FAILED: a refused client got through")
    return 0 if refused else 1


class _Failure(Exception):
    """A failure to report as one ``securemq: error:`` line, with the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _usage_error(message: str) -> _Failure:
    """A mistake in the command line: exit status 2, as argparse uses."""
    return _Failure(message, 2)


def _parse_meta(items: Sequence[str]) -> dict[str, str]:
    """Turn ``--meta KEY=VALUE`` arguments into a dict.

    Raises:
        _Failure: (usage) an item has no ``=`` or an empty key, or a key is repeated.
    """
    metadata: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _usage_error(f"--meta {item!r}: expected KEY=VALUE")
        if key in metadata:
            raise _usage_error(f"--meta {key!r} is given twice")
        metadata[key] = value
    return metadata


def _keygen(args: argparse.Namespace) -> int:
    """``securemq keygen [NAME --dir DIR --meta K=V --force]``: make a CURVE key pair."""
    from securemq.auth import certs  # noqa: PLC0415 - keep `securemq --help` fast
    from securemq.security.keys import curve_keypair  # noqa: PLC0415

    if args.name is None:
        if args.dir is not None or args.meta or args.force:
            raise _usage_error("--dir, --meta and --force need a NAME "
                               "(without NAME, keygen only prints a key pair)")
        public_key, secret_key = curve_keypair()
        print(f"public key: {public_key.decode('ascii')}")
        print(f"secret key: {secret_key.decode('ascii')}")
        return 0

    directory = args.dir if args.dir is not None else "."
    try:
        name = certs.check_name(args.name)
        metadata = certs.check_metadata(_parse_meta(args.meta))
    except ValueError as exc:
        raise _usage_error(str(exc)) from None
    if not os.path.isdir(directory):
        if os.path.lexists(directory):
            raise _Failure(f"{directory} exists and is not a directory")
        # Private from the start: it will hold secret certificates.
        os.makedirs(directory, mode=0o700)
    try:
        public_file, secret_file = certs.create_certificates(directory, name, metadata,
                                                             force=args.force)
    except FileExistsError as exc:
        raise _Failure(f"{exc.filename} already exists; pass --force to replace it "
                       "(the old key pair is then lost)") from None
    public_key = certs.read_certificate(public_file).public_key
    print(f"public certificate: {public_file}")
    print(f"secret certificate: {secret_file}")
    print(f"public key: {public_key.decode('ascii')}")
    return 0


def _derived_public_key(path: str, secret_key: bytes, public_key: bytes) -> bytes:
    """Recompute the public key from the secret key and check the file's copy of it.

    Raises:
        _Failure: the file's ``public-key`` is not the one its ``secret-key`` gives.
    """
    from securemq.security.keys import curve_public  # noqa: PLC0415

    derived = curve_public(secret_key)
    if not hmac.compare_digest(derived, public_key):
        raise _Failure(f"{path}: public-key does not match secret-key "
                       "(the file is damaged or was edited)")
    return derived


def _pubkey(args: argparse.Namespace) -> int:
    """``securemq pubkey SECRET_FILE``: the public key that belongs to a secret certificate."""
    from securemq.auth import certs  # noqa: PLC0415

    path = args.secret_file
    cert = certs.read_certificate(path)
    if cert.secret_key is None:
        raise _Failure(f"{path} is a public certificate: there is no secret key to derive "
                       "the public key from (give the .key_secret file)")
    print(_derived_public_key(path, cert.secret_key, cert.public_key).decode("ascii"))
    return 0


def _shown(text: str) -> str:
    """``text`` if printable, else its escaped form: file contents must not drive the
    terminal (escape sequences) or break the one-line layout."""
    return text if text.isprintable() else repr(text)[1:-1]


def _inspect(args: argparse.Namespace) -> int:
    """``securemq inspect FILE [--show-secret]``: what a certificate holds."""
    from securemq.auth import certs  # noqa: PLC0415

    path = args.file
    cert = certs.read_certificate(path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if cert.secret_key is not None:
        _derived_public_key(path, cert.secret_key, cert.public_key)
    mode_line = f"mode: {mode:04o}"
    if cert.secret_key is not None and os.name == "posix" and mode & 0o077:
        mode_line += " (WARNING: others may access this secret file; chmod 600 it)"
    print(f"file: {path}")
    print(f"kind: {'secret' if cert.is_secret else 'public'}")
    print(mode_line)
    print(f"public key: {cert.public_key.decode('ascii')}")
    if cert.secret_key is not None:
        shown = (cert.secret_key.decode("ascii") if args.show_secret
                 else "hidden (--show-secret prints it)")
        print(f"secret key: {shown}")
    print("metadata:" if cert.metadata else "metadata: none")
    for key, value in cert.metadata.items():
        print(f"    {key} = {_shown(value)}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``securemq`` command and its subcommands."""
    parser = argparse.ArgumentParser(prog="securemq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a CURVE-secured exchange on loopback")

    keygen = sub.add_parser(
        "keygen", help="make a CURVE key pair",
        description="Make a CURVE key pair. With NAME, write DIR/NAME.key (public, mode "
                    "0644) and DIR/NAME.key_secret (secret, mode 0600) and print their "
                    "paths and the public key; an existing secret is never replaced "
                    "without --force. Without NAME, print a key pair and write nothing.")
    keygen.add_argument("name", metavar="NAME", nargs="?",
                        help="base name of the certificate files")
    keygen.add_argument("--dir", metavar="DIR",
                        help="directory for the files (default: the current directory; "
                             "created with mode 0700 if missing)")
    keygen.add_argument("--meta", metavar="KEY=VALUE", action="append", default=[],
                        help="a metadata entry for both files (repeatable; public)")
    keygen.add_argument("--force", action="store_true",
                        help="replace existing certificate files")

    pubkey = sub.add_parser(
        "pubkey", help="print the public key of a secret certificate",
        description="Print the public key of a secret certificate, recomputed from its "
                    "secret key; fails if the file's public-key line disagrees.")
    pubkey.add_argument("secret_file", metavar="SECRET_FILE",
                        help="a secret certificate (NAME.key_secret)")

    inspect = sub.add_parser(
        "inspect", help="show a certificate",
        description="Show a certificate: its kind, file mode, public key and metadata. "
                    "The secret key is not shown unless --show-secret is given.")
    inspect.add_argument("file", metavar="FILE", help="a certificate file")
    inspect.add_argument("--show-secret", action="store_true",
                         help="also print the secret key")
    return parser


def _error(message: str) -> None:
    """Print ``securemq: error: message`` as one line on stderr."""
    print(f"securemq: error: {_shown(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``securemq`` console script.

    Errors in the command line exit with status 2, failures with 1; either way the user
    gets one ``error:`` line on stderr, not a traceback (argparse's own syntax errors also
    print the usage line first).
    """
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        return demo()

    from securemq.error import ZMQError  # noqa: PLC0415

    commands = {"keygen": _keygen, "pubkey": _pubkey, "inspect": _inspect}
    try:
        return commands[args.command](args)
    except _Failure as exc:
        _error(str(exc))
        return exc.status
    except OSError as exc:
        message = exc.strerror or str(exc)
        if exc.filename is not None:
            message += f": {os.fsdecode(exc.filename)}"
        if exc.filename2 is not None:
            message += f" -> {os.fsdecode(exc.filename2)}"
        _error(message)
        return 1
    except (ValueError, ZMQError) as exc:
        _error(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
