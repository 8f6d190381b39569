"""A tenant's app, for Test origin: what an organization runs behind its origin.

Served over HTTPS (a self-signed certificate for `app_hostname`, made at start) and HTTP. It
answers 200 for the hostnames it accepts (all, unless `accepted` is set) and 404 "unknown host"
for the others, like a web framework's allowed-hosts check, and records what it was sent.
In `make run` it listens on SANDBOX_APP_TLS_PORT and SANDBOX_APP_PORT, and the sandbox DNS
points `app.sandbox-tenant.dev` at it: add that as an origin and press Test origin.
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.server import Request, Response, SandboxApp, SandboxServer

APP_HOSTNAME = "app.sandbox-tenant.dev"


@dataclass(frozen=True)
class Seen:
    host: str
    path: str


class TenantApp(SandboxApp):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self.accepted: set[str] | None = None  # None: every host
        self.status = 200  # what an accepted host gets (500 plays a broken app)

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
            self.accepted = None
            self.status = 200

    def handle(self, request: Request) -> Response:
        host = request.headers.get("host", "").split(":")[0].lower()
        with self._lock:
            self._seen.append(Seen(host, request.path))
            accepted = self.accepted is None or host in self.accepted
            status = self.status
        if not accepted:
            return Response.html(f"<p>Unknown host {host}</p>", status=404)
        return Response.html(f"<p>Hello from the tenant's app, for {host}</p>", status=status)


def self_signed(hostname: str) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for `hostname`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context


def servers(
    app: TenantApp, host: str = "127.0.0.1", tls_port: int = 0, port: int = 0
) -> tuple[SandboxServer, SandboxServer]:
    """The app over HTTPS and over HTTP (port 0: free ports)."""
    return (
        SandboxServer(app, host, tls_port, tls=self_signed(APP_HOSTNAME)),
        SandboxServer(app, host, port),
    )
