"""The ``securemq`` command line: CURVE keys, TLS certificates, and a demo.

Commands: ``keygen`` makes a key pair (printed, or written as a certificate pair),
``pubkey`` prints the public key of a secret certificate, ``inspect`` shows a certificate,
``demo`` runs a CURVE exchange on loopback. ``tls`` manages X.509 certificates for
``tls+tcp://``: ``tls ca`` makes a CA, ``tls issue`` a server or client certificate,
``tls show`` describes certificates and ``tls expiring`` finds those about to expire.
Secret keys are never taken as arguments, which would leave them in shell history and
the process table; only the paths of key files are.
"""

from __future__ import annotations

import argparse
import datetime
import hmac
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securemq import pki


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


# -- tls: X.509 certificates for tls+tcp:// ------------------------------------------------


def _out_dir(directory: str) -> None:
    """Create ``directory`` with mode 0700 if it is missing: it will hold private keys.

    Raises:
        _Failure: something other than a directory is at that path.
    """
    if not os.path.isdir(directory):
        if os.path.lexists(directory):
            raise _Failure(f"{directory} exists and is not a directory")
        os.makedirs(directory, mode=0o700)


def _pair_paths(directory: str, name: str, force: bool) -> tuple[str, str]:
    """The paths of ``DIR/NAME.crt`` and ``DIR/NAME.key``, checked to be free.

    Checked before any key is generated (an RSA key takes a while) and before the
    directory is created, so a refusal is quick and leaves nothing behind.

    Raises:
        _Failure: a file is already there and ``force`` is false, or ``directory`` is
            not a directory.
    """
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise _Failure(f"{directory} exists and is not a directory")
    cert_file = os.path.join(directory, f"{name}.crt")
    key_file = os.path.join(directory, f"{name}.key")
    if not force:
        for path in (cert_file, key_file):
            if os.path.lexists(path):
                raise _exists(path)
    return cert_file, key_file


def _exists(path: str) -> _Failure:
    """The failure of finding ``path`` taken, with the way out."""
    return _Failure(f"{path} already exists; pass --force to replace it "
                    "(the old key is then lost)")


def _write_pair(certified: pki.CertifiedKey, cert_file: str, key_file: str,
                force: bool) -> None:
    """Write a certificate and its key, creating their directory (0700) if missing.

    Raises:
        _Failure: a file appeared meanwhile and ``force`` is false.
    """
    from securemq import pki  # noqa: PLC0415 - keep `securemq --help` fast

    _out_dir(os.path.dirname(cert_file) or ".")
    try:
        pki.write_certified_key(certified, cert_file, key_file, force=force)
    except FileExistsError as exc:
        raise _exists(os.fsdecode(exc.filename)) from None


def _print_issued(cert_file: str, key_file: str, info: pki.CertificateInfo) -> None:
    """Report what ``tls ca`` or ``tls issue`` wrote, as ``label: value`` lines."""
    print(f"certificate: {cert_file}")
    print(f"private key: {key_file}")
    print(f"subject: {_shown(info.subject)}")
    if not info.is_ca:
        print(f"SANs: {_shown(', '.join(info.sans)) or 'none'}")
        print(f"usage: {', '.join(info.extended_key_usage)}")
    print(f"not after: {_when(info.not_after)}")
    print(f"pin: {info.pin}")


def _when(moment: datetime.datetime) -> str:
    """A UTC time for people, to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _tls_ca(args: argparse.Namespace) -> int:
    """``securemq tls ca --out DIR``: make a CA, written as DIR/ca.crt and DIR/ca.key."""
    from securemq import pki  # noqa: PLC0415

    try:
        pki.check_common_name(args.name)
    except ValueError as exc:
        raise _usage_error(f"--name: {exc}") from None
    cert_file, key_file = _pair_paths(args.out, "ca", args.force)
    ca = pki.create_ca(args.name, key_type=args.key_type, days=args.days)
    _write_pair(ca, cert_file, key_file, args.force)
    _print_issued(cert_file, key_file, pki.describe(ca.certificate))
    return 0


def _tls_issue(args: argparse.Namespace) -> int:
    """``securemq tls issue --ca-cert F --ca-key F --out DIR --name NAME``: a leaf."""
    from securemq import pki  # noqa: PLC0415
    from securemq.auth import certs  # noqa: PLC0415

    try:
        name = certs.check_name(args.name)
        pki.check_common_name(name)
    except ValueError as exc:
        raise _usage_error(f"--name: {exc}") from None
    sans = [s for item in args.san for s in item.split(",") if s.strip()]
    try:
        names = [pki.parse_san(s.strip()) for s in sans]
    except ValueError as exc:
        raise _usage_error(f"--san: {exc}") from None
    if args.role != "client" and not names:
        raise _usage_error(f"a certificate with --role {args.role} needs at least one "
                           "--san (a DNS name or IP address that clients connect to), "
                           "or use --role client")
    ca = pki.load_certified_key(args.ca_cert, args.ca_key)
    cert_file, key_file = _pair_paths(args.out, name, args.force)
    leaf = pki.issue_certificate(ca, name, sans=names, role=args.role,
                                 key_type=args.key_type, days=args.days)
    _write_pair(leaf, cert_file, key_file, args.force)
    _print_issued(cert_file, key_file, pki.describe(leaf.certificate))
    return 0


def _trouble(info: pki.CertificateInfo, now: datetime.datetime) -> str | None:
    """What is wrong with the certificate's validity at ``now``, or ``None`` if nothing is
    (it is valid for another day at least)."""
    if now < info.not_before:
        return f"not valid yet (valid from {_when(info.not_before)})"
    days = info.days_left(now)
    if now > info.not_after:
        ago = -days - 1  # days_left rounds down: -1 means expired less than a day ago
        return "EXPIRED today" if ago == 0 else f"EXPIRED {_plural(ago, 'day')} ago"
    return "expires today" if days == 0 else None


def _plural(count: int, noun: str) -> str:
    """``1 day``, ``2 days``."""
    return f"{count} {noun}{'s' * (count != 1)}"


def _as_json(found: pki.CertificateFile, now: datetime.datetime) -> dict[str, Any]:
    """A certificate as a JSON object for ``--json``: stable keys, ISO 8601 UTC times."""
    info = found.info
    return {
        "file": found.path,
        "index": found.index,
        "subject": info.subject,
        "common_name": info.common_name,
        "issuer": info.issuer,
        "sans": list(info.sans),
        "serial": f"{info.serial:x}",
        "is_ca": info.is_ca,
        "key_type": info.key_type,
        "extended_key_usage": list(info.extended_key_usage),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "days_left": info.days_left(now),
        "expired": now > info.not_after,
        "not_yet_valid": now < info.not_before,
        "pin": info.pin,
    }


def _tls_show(args: argparse.Namespace) -> int:
    """``securemq tls show FILE... [--json]``: what certificates say."""
    from securemq import pki  # noqa: PLC0415

    # Everything is read before anything is printed: a bad file gives one error line and
    # no partial report.
    found: list[pki.CertificateFile] = []
    for path in args.files:
        if os.path.isdir(path):
            raise _Failure(f"{path} is a directory: give certificate files "
                           "(`securemq tls expiring DIR` searches a directory)")
        found += pki.find_certificates(path)
    now = datetime.datetime.now(datetime.timezone.utc)
    if args.json:
        print(json.dumps([_as_json(f, now) for f in found], indent=2))
        return 0
    for i, f in enumerate(found):
        info = f.info
        if i:
            print()
        print(f"file: {_shown(f.path)}"
              + (f" (certificate {f.index + 1})" if f.index else ""))
        print(f"subject: {_shown(info.subject)}")
        print(f"issuer: {_shown(info.issuer)}")
        print(f"SANs: {_shown(', '.join(info.sans)) or 'none'}")
        print(f"CA: {'yes' if info.is_ca else 'no'}")
        print(f"usage: {', '.join(info.extended_key_usage) or 'any'}")
        print(f"key type: {info.key_type}")
        print(f"serial: {info.serial:x}")
        print(f"not before: {_when(info.not_before)}")
        print(f"not after: {_when(info.not_after)}")
        print(f"days left: {_trouble(info, now) or info.days_left(now)}")
        print(f"pin: {info.pin}")
    return 0


def _tls_expiring(args: argparse.Namespace) -> int:
    """``securemq tls expiring DIR... --days N``: status 1 if something expires soon."""
    from securemq import pki  # noqa: PLC0415

    found = pki.find_certificates(args.paths)
    if not found:
        raise _Failure(f"no certificates found in {', '.join(args.paths)} "
                       "(looked for *.crt, *.pem and *.cer files)")
    now = datetime.datetime.now(datetime.timezone.utc)
    soon = sorted((f for f in found if f.info.expires_within(args.days, now)),
                  key=lambda f: (f.info.not_after, f.path, f.index))
    if args.json:
        print(json.dumps([_as_json(f, now) for f in soon], indent=2))
    else:
        for f in soon:
            note = (_trouble(f.info, now)
                    or f"expires in {_plural(f.info.days_left(now), 'day')}")
            print(f"{_shown(f.path)}: {_shown(f.info.subject)}: {note} "
                  f"(not after {_when(f.info.not_after)})")
        if not soon:
            print(f"no certificate expires within {_plural(args.days, 'day')} "
                  f"({len(found)} checked)")
    return 1 if soon else 0


def _days(text: str) -> int:
    """An argparse type: a whole number of days, 1 or more."""
    return _whole_days(text, minimum=1)


def _window(text: str) -> int:
    """An argparse type: a window in whole days, 0 or more."""
    return _whole_days(text, minimum=0)


def _whole_days(text: str, minimum: int) -> int:
    """Parse a number of days between ``minimum`` and :data:`securemq.pki.MAX_DAYS`."""
    from securemq.pki import MAX_DAYS  # noqa: PLC0415

    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not minimum <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{days} is not between {minimum} and {MAX_DAYS}")
    return days


def _key_file_options(parser: argparse.ArgumentParser, days: int) -> None:
    """The options of the ``tls`` commands that make a key and its certificate."""
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="directory for the files (created with mode 0700 if missing)")
    parser.add_argument("--days", metavar="N", type=_days, default=days,
                        help="validity in days (default: %(default)s)")
    parser.add_argument("--key-type", choices=("ed25519", "ecdsa", "rsa"), default="ecdsa",
                        help="the kind of key to generate: ed25519, ecdsa (P-256, the "
                             "default) or rsa (3072 bits)")
    parser.add_argument("--force", action="store_true", help="replace existing files")


def _add_tls_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``securemq tls`` command group."""
    tls = sub.add_parser(
        "tls", help="make and inspect X.509 certificates for tls+tcp://",
        description="Make a private CA, issue server and client certificates signed by "
                    "it, and inspect certificates. Files are PEM; private keys are "
                    "unencrypted PKCS#8 files created with mode 0600, and no existing "
                    "file is replaced without --force.")
    tls_sub = tls.add_subparsers(dest="tls_command", required=True, metavar="COMMAND")

    ca = tls_sub.add_parser(
        "ca", help="make a CA certificate and key",
        description="Make a self-signed CA for signing leaf certificates: write "
                    "DIR/ca.crt (the certificate every peer trusts) and DIR/ca.key "
                    "(its private key; keep it off the peers), then print their paths, "
                    "the expiry date and the pin.")
    ca.add_argument("--name", metavar="CN", default="securemq CA",
                    help="the CA's common name (default: %(default)s)")
    _key_file_options(ca, days=3650)

    issue = tls_sub.add_parser(
        "issue", help="issue a server or client certificate signed by a CA",
        description="Issue a certificate with a new key, signed by the CA: write "
                    "DIR/NAME.crt and DIR/NAME.key (mode 0600). NAME is also the "
                    "common name. A server certificate names the hosts clients connect "
                    "to with --san; clients check them, and ignore the common name.")
    issue.add_argument("--ca-cert", metavar="FILE", required=True,
                       help="the CA certificate (ca.crt)")
    issue.add_argument("--ca-key", metavar="FILE", required=True,
                       help="the file holding the CA's private key (ca.key)")
    issue.add_argument("--name", metavar="NAME", required=True,
                       help="base name of the files and common name of the certificate")
    issue.add_argument("--san", metavar="DNS-or-IP", action="append", default=[],
                       help="a DNS name or IP address the certificate is for (repeatable, "
                            "or comma-separated; DNS:/IP: prefixes force one reading)")
    issue.add_argument("--role", choices=("server", "client", "both"), default="server",
                       help="serverAuth, clientAuth or both (default: %(default)s)")
    _key_file_options(issue, days=365)

    show = tls_sub.add_parser(
        "show", help="describe certificates",
        description="Show what certificates say: subject, issuer, SANs, usage, key "
                    "type, validity and days left, and the public-key pin (for "
                    "tls_pins). Every certificate of a bundle is shown.")
    show.add_argument("files", metavar="FILE", nargs="+", help="a PEM or DER certificate")
    show.add_argument("--json", action="store_true",
                      help="print a JSON list of objects, one per certificate")

    exp = tls_sub.add_parser(
        "expiring", help="list certificates that expire soon",
        description="Search files and directories (recursively, for *.crt, *.pem and "
                    "*.cer) and list the certificates that have expired or expire within "
                    "N days, soonest first. Exit status 0: none; 1: some (or an error, "
                    "which prints a 'securemq: error:' line and nothing on stdout).")
    exp.add_argument("paths", metavar="DIR", nargs="+",
                     help="a directory to search, or a certificate file")
    exp.add_argument("--days", metavar="N", type=_window, default=30,
                     help="the window in days (default: %(default)s; 0: expired only)")
    exp.add_argument("--json", action="store_true",
                     help="print a JSON list of the expiring certificates ([] if none)")


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
    _add_tls_parser(sub)
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

    commands = {"keygen": _keygen, "pubkey": _pubkey, "inspect": _inspect,
                "tls ca": _tls_ca, "tls issue": _tls_issue, "tls show": _tls_show,
                "tls expiring": _tls_expiring}
    command = f"tls {args.tls_command}" if args.command == "tls" else args.command
    try:
        return commands[command](args)
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
