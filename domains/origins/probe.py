"""Test origin: connect to a tenant's app from our side, the way Cloudflare's edge will, and say
what came back in words a person can act on.

The one module that connects to tenants' apps (tests/test_boundaries.py). It resolves the origin
now and refuses refused addresses (a name may have moved since it was saved), connects to the
address it checked (never re-resolving), tries HTTPS then HTTP, sends `Host` set to one of the
organization's hostnames and the SNI Cloudflare would send, follows no redirect, reads at most
MAX_BYTES (16 KiB) of the answer's head, and spends at most ORIGIN_PROBE_SECONDS in all.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID
from django.conf import settings

from domains.errors import DomainError
from domains.models import Domain, DomainStatus, Origin
from domains.origins.address import check_resolution, parse_origin_address

# The most of an answer's head read: enough for a status line and headers.
MAX_BYTES = 16 * 1024


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str  # the verdict, for a person
    host: str = ""  # the Host header sent
    sni: str = ""
    address: str = ""  # the IP address connected to
    scheme: str = ""
    status: int | None = None
    location: str = ""  # a redirect's target (not followed)
    certificate_names: tuple[str, ...] = ()
    elapsed_ms: int = 0


class _Failed(Exception):
    pass


def _host_for(origin: Origin) -> tuple[str, bool]:
    """A hostname to send as Host: an active one this origin serves, else any active one of
    the organization's, else any; (the origin's own name, False) when it has none."""
    domains = Domain.objects.filter(organization_id=origin.organization_id)
    for candidates in (
        domains.filter(origin_applied=origin.record_name, status=DomainStatus.ACTIVE),
        domains.filter(status=DomainStatus.ACTIVE),
        domains,
    ):
        hostname = candidates.order_by("hostname").values_list("hostname", flat=True).first()
        if hostname:
            return hostname, True
    return origin.address, False


def _sni(origin: Origin, host: str) -> str:
    mode = str(settings.CLOUDFLARE_ORIGIN_SNI)
    if mode == "request_host":
        return host
    if mode == "origin" and parse_origin_address(origin.address).is_hostname:
        return origin.address
    return origin.record_name  # Cloudflare's default: the custom origin server's name


def origin_test(origin: Origin) -> ProbeResult:
    """Resolve, check, connect and ask; never raises for the app's trouble."""
    try:
        address = parse_origin_address(origin.address)
        addresses = check_resolution(address)
    except DomainError as error:
        return ProbeResult(False, f"Not tested: {error.message}")
    if not addresses:
        return ProbeResult(
            False,
            f"{address.value} does not resolve to any address yet. Create its DNS record at "
            "your DNS provider, then test again.",
        )
    host, real = _host_for(origin)
    sni = _sni(origin, host)
    ip = addresses[0]
    budget = float(settings.ORIGIN_PROBE_SECONDS)
    started = time.monotonic()
    deadline = started + budget
    https_port, http_port = (int(p) for p in settings.ORIGIN_PROBE_PORTS)
    problems: list[str] = []
    for scheme, port in (("https", https_port), ("http", http_port)):
        try:
            status, location, names = _ask(ip, port, scheme == "https", sni, host, deadline)
        except _Failed as failure:
            problems.append(f"{scheme.upper()} (port {port}): {failure}")
            continue
        elapsed = int((time.monotonic() - started) * 1000)
        return _verdict(
            ProbeResult(
                ok=False,
                message="",
                host=host,
                sni=sni,
                address=ip,
                scheme=scheme,
                status=status,
                location=location,
                certificate_names=names,
                elapsed_ms=elapsed,
            ),
            real_host=real,
        )
    return ProbeResult(
        False,
        f"Nothing answered at {ip} within {budget:g} s. "
        + " ".join(problems)
        + " Is the app running, and does its firewall let Cloudflare in?",
        host=host,
        sni=sni,
        address=ip,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _verdict(result: ProbeResult, *, real_host: bool) -> ProbeResult:
    code, host = result.status or 0, result.host
    answered = (
        f"Your app answered {code} for {host} over {result.scheme.upper()} in "
        f"{result.elapsed_ms} ms"
    )
    if 300 <= code < 400:
        message = (
            f"{answered}, redirecting to {result.location or 'another address'} (not followed)."
        )
        ok = True
    elif code < 400:
        message = f"{answered}: it is ready for your customers' traffic."
        ok = True
    elif code in (400, 404, 421):
        message = (
            f"{answered}: add {host} to your app's allowed hosts. Cloudflare sends each "
            "customer's hostname in the Host header: that is how your app tells them apart."
        )
        ok = False
    elif code in (401, 403):
        message = (
            f"{answered}: your app refuses it. If it restricts hosts or visitors, let your "
            "customers' hostnames and Cloudflare's addresses in."
        )
        ok = False
    else:
        message = f"{answered}: it is reachable but failing. Check its logs."
        ok = False
    if not real_host:
        message += " (None of your domains is active yet, so we sent the origin's own name.)"
    names = result.certificate_names
    if result.scheme == "https" and names and not _covers(names, result.sni):
        message += (
            f" Its certificate is for {', '.join(names[:3])}; Cloudflare connects with SNI "
            f"{result.sni}, so it cannot verify it strictly."
        )
    return ProbeResult(**{**result.__dict__, "ok": ok, "message": message})


def _covers(names: tuple[str, ...], sni: str) -> bool:
    for name in names:
        if name == sni or (name.startswith("*.") and sni.split(".", 1)[-1] == name[2:]):
            return True
    return False


def _ask(
    ip: str, port: int, tls: bool, sni: str, host: str, deadline: float
) -> tuple[int, str, tuple[str, ...]]:
    """One GET / to ip:port; (status, Location, certificate names). Raises `_Failed`."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed("no time left")
    try:
        sock = socket.create_connection((ip, port), timeout=left)
    except TimeoutError:
        raise _Failed("timed out connecting") from None
    except OSError as error:
        raise _Failed(f"could not connect ({error.strerror or error})") from None
    names: tuple[str, ...] = ()
    try:
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            # Cloudflare's Full mode does not verify the origin's certificate either; what it
            # holds is reported, not required.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            try:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock = context.wrap_socket(sock, server_hostname=sni)
            except (ssl.SSLError, OSError) as error:
                raise _Failed(f"TLS handshake failed ({error})") from None
            der = sock.getpeercert(binary_form=True)
            names = _certificate_names(der) if der else ()
        request = (
            f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: DCVaaS-origin-test/1\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        )
        head = _read_head(sock, request.encode("ascii"), deadline)
    finally:
        sock.close()
    return (*_parse_head(head), names)


def _read_head(sock: socket.socket, request: bytes, deadline: float) -> bytes:
    """Send the request; read until the end of the headers, the size cap or the deadline."""
    limit = MAX_BYTES
    data = b""
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        sock.sendall(request)
        while b"\r\n\r\n" not in data and len(data) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failed("timed out waiting for the answer")
            sock.settimeout(left)
            chunk = sock.recv(min(4096, limit - len(data)))
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        raise _Failed("timed out waiting for the answer") from None
    except OSError as error:
        raise _Failed(f"the connection failed ({error})") from None
    if not data:
        raise _Failed("closed the connection without answering")
    return data


def _parse_head(head: bytes) -> tuple[int, str]:
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise _Failed("answered something that is not HTTP")
    location = ""
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "location":
            location = value.strip()[:200]
    return int(parts[1]), location


def _certificate_names(der: bytes) -> tuple[str, ...]:
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return ()
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    if names:
        return names
    common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return tuple(str(a.value) for a in common)
