"""An authenticated service mesh with asyncio: CURVE, an allow-list, and a late approval.

The asyncio twin of ``examples/service_mesh.py``. One event loop runs everything: the
ZAP handler (``AsyncioAuthenticator``, a task on the running loop), the *catalogue*
service (a CURVE ROUTER) and its client services (DEALERs with their own key pairs).

Two things differ from the threaded example:

* User-Ids are service names. The authenticator's ``curve_user_id`` is overridden to
  turn an admitted client's public key into the name found in its certificate, so the
  catalogue reads ``frame.get("User-Id") == "orders"`` rather than a Z85 key.
* The allow-list directory is watched while the authenticator runs. A *reporting*
  service whose certificate is not yet approved is refused (its monitor reports
  ``HANDSHAKE_FAILED_AUTH`` with ZAP status 400); the operator then drops its public
  certificate into ``allowed/``, and its next connection is admitted, with no restart
  and no call to ``configure_curve``.

Run it with ``python examples/asyncio/service_mesh.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path

import securemq as zmq
import securemq.asyncio as azmq
from securemq.auth.asyncio import AsyncioAuthenticator
from securemq.auth.certs import create_certificates, load_certificate, read_certificate
from securemq.utils import z85
from securemq.utils.monitor import parse_monitor_message

CLIENTS = ["orders", "billing", "shipping"]
LATECOMER = "reporting"


class NamingAuthenticator(AsyncioAuthenticator):
    """Gives each admitted client its service name as User-Id, from a certificate."""

    def __init__(self, ctx: azmq.Context, names: dict[bytes, str]) -> None:
        super().__init__(ctx)
        self.names = names  # 32-byte public key -> service name

    def curve_user_id(self, client_public_key: bytes) -> str:
        # Called only for keys the allow-list admitted; an unknown one here is a bug,
        # and an exception makes the authenticator answer 500 (never admission).
        return self.names[client_public_key]


def make_keys(root: Path) -> tuple[Path, Path, dict[bytes, str]]:
    """Create every certificate; approve all clients but the latecomer.

    Returns the certificate directory, the allow-list directory, and the service name
    of each public key (from the certificates' metadata).
    """
    keys, allowed = root / "keys", root / "allowed"
    keys.mkdir()
    allowed.mkdir()
    names = {}
    for name in ["catalogue", *CLIENTS, LATECOMER]:
        public_file, _ = create_certificates(keys, name, {"service": name})
        cert = read_certificate(public_file)
        names[z85.decode(cert.public_key)] = cert.metadata["service"]
    for name in CLIENTS:
        shutil.copy(keys / f"{name}.key", allowed / f"{name}.key")
    return keys, allowed, names


def approve(keys: Path, allowed: Path, name: str) -> None:
    """Add a client's public certificate to the allow-list, atomically.

    Written under a hidden name first (the authenticator ignores hidden files), then
    renamed into place, so the watcher never sees half a file.
    """
    staging = allowed / f".{name}.key.tmp"
    shutil.copy(keys / f"{name}.key", staging)
    os.replace(staging, allowed / f"{name}.key")


def client_socket(ctx: azmq.Context, keys: Path, name: str) -> azmq.Socket:
    """A DEALER with ``name``'s key pair, expecting the catalogue's public key."""
    sock: azmq.Socket = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvtimeo = 5000
    sock.curve_serverkey, _ = load_certificate(keys / "catalogue.key")
    sock.curve_publickey, sock.curve_secretkey = load_certificate(keys / f"{name}.key_secret")
    return sock


async def catalogue(server: azmq.Socket) -> None:
    """Answer every request, addressing the caller by its authenticated User-Id."""
    while True:
        routing_id, request = await server.recv_multipart(copy=False)
        service = request.get("User-Id")
        print(f"catalogue: {request.bytes.decode()!r} from {service}")
        await server.send_multipart([routing_id, f"here you are, {service}".encode()])


async def ask(ctx: azmq.Context, keys: Path, endpoint: str, name: str) -> str:
    """Connect as ``name``, send one request, return the answer."""
    sock = client_socket(ctx, keys, name)
    with sock:  # closes it on the way out
        sock.connect(endpoint)
        await sock.send_string(f"price list for {name}")
        answer = await sock.recv_string()
        print(f"{name}: {answer}")
        return answer


async def refused(ctx: azmq.Context, keys: Path, endpoint: str, name: str) -> bool:
    """Connect as ``name``; return True if the handshake fails with ZAP status 400."""
    sock = client_socket(ctx, keys, name)
    with sock:
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        try:
            sock.connect(endpoint)
            await sock.send_string("price list, please")  # stays queued: never sent
            # Await the monitor socket, then decode its two frames.
            event = parse_monitor_message(
                await asyncio.wait_for(monitor.recv_multipart(), timeout=5))
        finally:
            sock.disable_monitor()
            monitor.close()
    print(f"{name}: refused, {zmq.Event(event['event']).name} "
          f"with ZAP status {event['value']}")
    return event["value"] == 400


async def main_async() -> None:
    # The authenticator logs each refusal as a WARNING on "securemq.auth.audit".
    logging.basicConfig(format="log: %(name)s: %(message)s", level=logging.WARNING)
    ctx = azmq.Context()
    with tempfile.TemporaryDirectory() as tmp:
        keys, allowed, names = make_keys(Path(tmp))

        auth = NamingAuthenticator(ctx, names)
        auth.start()  # needs the running loop: its task answers ZAP requests
        auth.allow("127.0.0.1")
        auth.configure_curve(domain="*", location=str(allowed))
        try:
            with ctx.socket(zmq.ROUTER) as server:
                server.linger = 0
                server.curve_server = True
                server.curve_publickey, server.curve_secretkey = load_certificate(
                    keys / "catalogue.key_secret")
                endpoint = f"tcp://127.0.0.1:{server.bind_to_random_port('tcp://127.0.0.1')}"
                print(f"catalogue: listening on {endpoint} (CURVE)")
                serving = asyncio.create_task(catalogue(server))

                await asyncio.gather(*(ask(ctx, keys, endpoint, name) for name in CLIENTS))

                if not await refused(ctx, keys, endpoint, LATECOMER):
                    raise SystemExit(f"{LATECOMER} should have been refused with 400")
                approve(keys, allowed, LATECOMER)
                print(f"operator: approved {LATECOMER} (copied {LATECOMER}.key to allowed/)")
                await ask(ctx, keys, endpoint, LATECOMER)

                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
        finally:
            auth.stop()
    ctx.term()
    print(f"service_mesh (asyncio): {len(CLIENTS)} clients admitted, "
          f"{LATECOMER} refused, then admitted once approved")


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
