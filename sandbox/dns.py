"""DNS simulator: a real loopback nameserver (UDP and TCP) whose records tests and people control.

It behaves like a recursive resolver that knows only its own data:

- answers any record type it holds (A, AAAA, CNAME, TXT, CAA, SOA, NS, ...), with the RA flag set;
- follows CNAME chains inside its data and puts the whole chain in the answer section, as real
  resolvers do (a loop, or a chain longer than `MAX_CHAIN`, is answered with SERVFAIL, as Unbound
  does);
- NXDOMAIN for names that do not exist, NOERROR with an empty answer (NODATA) for names that exist
  without the asked type (including empty non-terminals), with the SOA of the closest enclosing
  zone in the authority section when one is known, so `dns.resolver.zone_for_name` works;
- wildcard records (`*.client.com`) answer for names that do not exist below them (RFC 4592,
  the closest encloser's wildcard only);
- fault injection per name (and its subtree): SERVFAIL, REFUSED, no answer at all (timeout), or
  a broken DNSSEC chain ("dnssec": SERVFAIL, unless the query sets the CD flag, as a validating
  resolver does for a zone whose DS record no longer matches).

Wire format parsing and rendering is dnspython's (`dns.message`), never hand-rolled. DNSSEC
itself (signatures) is not simulated.

Control it through `DnsSandbox` (thread-safe): `set_record`, `cname`, `delete_record`, `add_zone`,
`fail`/`heal`, `clear`/`reset`, `records()`. With a `state_file`, every change is saved atomically
and reloaded at start, so `make run` keeps what a person set up across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

logger = logging.getLogger(__name__)

FAULT_MODES = ("servfail", "timeout", "refused", "dnssec")
# Longest CNAME chain the server follows for one answer; real resolvers stop around 8-16.
MAX_CHAIN = 16
# Documentation addresses (RFC 5737 / RFC 3849) for our own CNAME target in the sandbox.
DEFAULT_TARGET_A = "198.51.100.10"
DEFAULT_TARGET_AAAA = "2001:db8::10"
STATE_VERSION = 1
# How long a TCP connection that we deliberately do not answer ("timeout" fault) is held open at
# most; the client gives up long before and closing its end frees the thread earlier.
_SILENT_HOLD_SECONDS = 30.0


@dataclass(frozen=True)
class Record:
    """One RRset as the sandbox holds it: names without the trailing dot, values as zone text."""

    name: str
    rtype: str
    ttl: int
    values: tuple[str, ...]


@dataclass(frozen=True)
class Fault:
    name: str
    mode: str
    rtype: str | None  # None: every query type


def _name(value: str | dns.name.Name) -> dns.name.Name:
    """Parse a host or zone name (trailing dot optional) into a lower-cased absolute name."""
    if isinstance(value, dns.name.Name):
        name = value
    else:
        text = value.strip()
        if not text:
            raise ValueError("A DNS name is required.")
        try:
            name = dns.name.from_text(text)
        except dns.exception.DNSException as exc:
            raise ValueError(f"{value!r} is not a valid DNS name: {exc}") from exc
    return name.canonicalize()


def _display(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) if name != dns.name.root else "."


def _rtype(value: str) -> dns.rdatatype.RdataType:
    try:
        rtype = dns.rdatatype.from_text(value.strip().upper())
    except dns.exception.DNSException as exc:
        raise ValueError(f"{value!r} is not a DNS record type.") from exc
    if dns.rdatatype.is_metatype(rtype) or rtype == dns.rdatatype.ANY:
        raise ValueError(f"{value!r} cannot be stored as a record.")
    return rtype


def _quote_txt(value: str) -> str:
    """TXT values may be given plainly ("v=spf1 -all"); zone syntax needs them quoted."""
    if value.startswith('"'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class _RRData:
    ttl: int
    values: tuple[str, ...]  # canonical zone-file text of each rdata, absolute names


class _Store:
    """The records and faults, guarded by one lock. Everything here runs with the lock held."""

    def __init__(self) -> None:
        self.rrsets: dict[dns.name.Name, dict[dns.rdatatype.RdataType, _RRData]] = {}
        self.faults: dict[tuple[dns.name.Name, dns.rdatatype.RdataType | None], str] = {}

    def rrset(self, name: dns.name.Name, rtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        data = self.rrsets.get(name, {}).get(rtype)
        if data is None:
            return None
        return dns.rrset.from_text_list(
            name,
            data.ttl,
            dns.rdataclass.IN,
            rtype,
            data.values,
            origin=dns.name.root,
            relativize=False,
        )

    def exists(self, name: dns.name.Name) -> bool:
        """True if the name holds data or has descendants (an empty non-terminal exists too)."""
        if self.rrsets.get(name):
            return True
        return any(other.is_subdomain(name) for other in self.rrsets)

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        """The closest enclosing zone apex (a name holding an SOA), or None."""
        current = name
        while True:
            if dns.rdatatype.SOA in self.rrsets.get(current, {}):
                return current
            if current == dns.name.root:
                return None
            current = current.parent()

    def wildcard_for(self, name: dns.name.Name) -> dns.name.Name | None:
        """The wildcard that answers for `name`, which does not exist: `*.` the closest
        existing ancestor (RFC 4592's closest encloser), if that holds one."""
        current = name.parent() if name != dns.name.root else name
        while current != dns.name.root and not self.exists(current):
            current = current.parent()
        wildcard = dns.name.Name((b"*", *current.labels))
        return wildcard if self.rrsets.get(wildcard) else None

    def fault_for(self, name: dns.name.Name, rtype: dns.rdatatype.RdataType) -> str | None:
        """A fault set on the name or any of its ancestors (a broken zone breaks its subtree)."""
        if not self.faults:
            return None
        current = name
        while True:
            mode = self.faults.get((current, rtype)) or self.faults.get((current, None))
            if mode:
                return mode
            if current == dns.name.root:
                return None
            current = current.parent()


def _respond(store: _Store, query: dns.message.Message) -> dns.message.Message | None:
    """The response to one query, or None to stay silent (the "timeout" fault)."""
    response = dns.message.make_response(query, recursion_available=True)
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    qname = question.name.canonicalize()
    qtype = question.rdtype
    if question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
        return response

    name = qname
    seen: set[dns.name.Name] = set()
    while True:
        fault = store.fault_for(name, qtype)
        if fault == "timeout":
            return None
        if fault == "dnssec" and query.flags & dns.flags.CD:
            fault = None
        if fault in ("servfail", "refused", "dnssec"):
            # Like a resolver that failed partway through a chain: no partial answer.
            response.answer.clear()
            response.set_rcode(dns.rcode.REFUSED if fault == "refused" else dns.rcode.SERVFAIL)
            return response
        seen.add(name)
        exact = store.rrset(name, qtype)
        if exact is not None:
            response.answer.append(exact)
            return response
        alias = store.rrset(name, dns.rdatatype.CNAME) if qtype != dns.rdatatype.CNAME else None
        if alias is not None:
            response.answer.append(alias)
            target = alias[0].target.canonicalize()
            if target in seen or len(seen) >= MAX_CHAIN:
                response.answer.clear()
                response.set_rcode(dns.rcode.SERVFAIL)
                return response
            name = target
            continue
        if not store.exists(name):
            wildcard = store.wildcard_for(name)
            if wildcard is not None:
                synthesized = store.rrset(wildcard, qtype) or (
                    store.rrset(wildcard, dns.rdatatype.CNAME)
                )
                if synthesized is not None:
                    copy = dns.rrset.from_rdata_list(name, synthesized.ttl, list(synthesized))
                    response.answer.append(copy)
                    if copy.rdtype == dns.rdatatype.CNAME and qtype != dns.rdatatype.CNAME:
                        name = copy[0].target.canonicalize()
                        if name in seen or len(seen) >= MAX_CHAIN:
                            response.answer.clear()
                            response.set_rcode(dns.rcode.SERVFAIL)
                            return response
                        continue
                    return response
                # The wildcard's name exists: NODATA, not NXDOMAIN.
                zone = store.zone_of(name)
                soa = store.rrset(zone, dns.rdatatype.SOA) if zone is not None else None
                if soa is not None:
                    response.authority.append(soa)
                return response
            response.set_rcode(dns.rcode.NXDOMAIN)
        zone = store.zone_of(name)
        if zone is not None:
            soa = store.rrset(zone, dns.rdatatype.SOA)
            if soa is not None:
                response.authority.append(soa)
        return response


def _formerr(wire: bytes) -> dns.message.Message | None:
    """A FORMERR reply to a query we could not parse, if it has at least a header to answer."""
    if len(wire) < 12:
        return None
    response = dns.message.Message(id=int.from_bytes(wire[:2], "big"))
    response.flags = dns.flags.QR | dns.flags.RA
    response.set_rcode(dns.rcode.FORMERR)
    return response


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        wire, sock = self.request
        reply = self.server.sandbox.handle_wire(wire, udp=True)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(_SILENT_HOLD_SECONDS)
        try:
            while True:
                length = self._read(conn, 2)
                if length is None:
                    return
                wire = self._read(conn, int.from_bytes(length, "big"))
                if wire is None:
                    return
                reply = self.server.sandbox.handle_wire(wire, udp=False)
                if reply is None:
                    # "timeout" fault: keep the connection open and say nothing until the
                    # client gives up and closes it.
                    while conn.recv(4096):
                        pass
                    return
                conn.sendall(len(reply).to_bytes(2, "big") + reply)
        except OSError:
            return

    @staticmethod
    def _read(conn: socket.socket, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: DnsSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _UDPHandler)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: DnsSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _TCPHandler)


class DnsSandbox:
    """A loopback nameserver plus thread-safe controls over what it answers.

    `port=0` picks a free UDP port and binds TCP on the same number. `default_target` (e.g.
    "dcv.pcnaid.com") is given A/AAAA documentation addresses in its parent zone by `reset()`,
    so a customer's chain that reaches our target resolves fully.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_file: Path | None = None,
        default_target: str | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self.state_file = state_file
        self.default_target = default_target
        self._lock = threading.RLock()
        self._store = _Store()
        self._udp: _UDPServer | None = None
        self._tcp: _TCPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    # -- network ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._udp is None:
            return self._requested_port
        return int(self._udp.server_address[1])

    @property
    def address(self) -> str:
        """The nameserver as the DNS_RESOLVER setting spells it: "127.0.0.1:PORT"."""
        return f"{self.host}:{self.port}"

    def start(self) -> DnsSandbox:
        """Load the state file (or install the defaults), then serve UDP and TCP in threads."""
        if self.state_file is not None and self.state_file.exists():
            self._load()
        elif self.default_target:
            self.reset()
        self._udp, self._tcp = self._bind()
        self._stopped.clear()
        for server in (self._udp, self._tcp):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"sandbox-dns-{type(server).__name__}-{self.port}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _bind(self) -> tuple[_UDPServer, _TCPServer]:
        # With port 0 the UDP port is free but its TCP twin may not be; try a few UDP ports.
        attempts = 20 if self._requested_port == 0 else 1
        for attempt in range(attempts):
            udp = _UDPServer((self._host, self._requested_port), self)
            try:
                tcp = _TCPServer((self._host, int(udp.server_address[1])), self)
            except OSError:
                udp.server_close()
                if attempt == attempts - 1:
                    raise
                continue
            return udp, tcp
        raise OSError("no free port for both UDP and TCP")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until `stop()` is called (or `timeout` passes); True once stopped."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._udp = self._tcp = None
        self._stopped.set()

    def handle_wire(self, wire: bytes, *, udp: bool) -> bytes | None:
        """Answer one query in wire format; None means stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            formerr = _formerr(wire)
            return formerr.to_wire() if formerr is not None else None
        try:
            with self._lock:
                response = _respond(self._store, query)
        except Exception:
            # A bug here must not kill the server thread silently: answer like a broken resolver.
            logger.exception("sandbox DNS: failed to answer %s", query.question)
            response = dns.message.make_response(query, recursion_available=True)
            response.set_rcode(dns.rcode.SERVFAIL)
        if response is None:
            return None
        if not udp:
            return response.to_wire(max_size=65535)
        max_size = max(query.payload, 512) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            # Too big for UDP: answer with the TC bit so the client retries over TCP.
            truncated = dns.message.make_response(query, recursion_available=True)
            truncated.flags |= dns.flags.TC
            truncated.set_rcode(response.rcode())
            return truncated.to_wire(max_size=max_size)

    # -- controls -----------------------------------------------------------------------------

    def set_record(
        self, name: str, rtype: str, values: list[str] | tuple[str, ...] | str, ttl: int = 60
    ) -> None:
        """Replace the `rtype` RRset at `name` (an empty list deletes it).

        Values are zone-file text ("198.51.100.7", "dcv.pcnaid.com", '0 issue "pki.goog"');
        names in them are taken as absolute, TXT values are quoted if they are not already.
        A CNAME replaces every other record at the name, and any other type replaces a CNAME,
        since DNS allows nothing beside a CNAME. Raises ValueError for invalid input.
        """
        owner = _name(name)
        kind = _rtype(rtype)
        items = [values] if isinstance(values, str) else list(values)
        if not items:
            self.delete_record(name, rtype)
            return
        if not 0 <= ttl <= 2**31 - 1:
            raise ValueError(f"TTL {ttl} is out of range.")
        if kind == dns.rdatatype.TXT:
            items = [_quote_txt(v) for v in items]
        if kind == dns.rdatatype.CNAME and len(items) != 1:
            raise ValueError("A CNAME record has exactly one value.")
        try:
            rrset = dns.rrset.from_text_list(
                owner, ttl, dns.rdataclass.IN, kind, items, origin=dns.name.root, relativize=False
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise ValueError(
                f"Invalid {dns.rdatatype.to_text(kind)} value {items!r}: {exc}"
            ) from exc
        canonical = tuple(rdata.to_text() for rdata in rrset)
        with self._lock:
            node = self._store.rrsets.setdefault(owner, {})
            if kind == dns.rdatatype.CNAME:
                if dns.rdatatype.SOA in node:
                    raise ValueError(
                        f"{_display(owner)} is a zone apex; DNS does not allow a CNAME there."
                    )
                node.clear()
            else:
                node.pop(dns.rdatatype.CNAME, None)
            node[kind] = _RRData(ttl, canonical)
            self._save()

    def cname(self, name: str, target: str, ttl: int = 60) -> None:
        """Point `name` at `target` with a CNAME record."""
        self.set_record(name, "CNAME", [str(_name(target))], ttl)

    def delete_record(self, name: str, rtype: str | None = None) -> None:
        """Delete one RRset at `name`, or every record there when `rtype` is None."""
        owner = _name(name)
        kind = _rtype(rtype) if rtype is not None else None
        with self._lock:
            node = self._store.rrsets.get(owner)
            if node is None:
                return
            if kind is None:
                node.clear()
            else:
                node.pop(kind, None)
            if not node:
                del self._store.rrsets[owner]
            self._save()

    def add_zone(self, name: str, ttl: int = 300) -> None:
        """Make `name` a zone apex: an SOA and an NS record (kept if they already exist)."""
        apex = _name(name)
        if apex == dns.name.root:
            raise ValueError("The root zone cannot be added.")
        label = _display(apex)
        with self._lock:
            node = self._store.rrsets.get(apex, {})
            if dns.rdatatype.CNAME in node:
                raise ValueError(f"{label} has a CNAME record; it cannot also be a zone apex.")
            if dns.rdatatype.SOA not in node:
                # The SOA minimum (last field) is the negative-caching TTL; keep it short.
                self.set_record(
                    label, "SOA", f"ns1.{label} hostmaster.{label} 1 3600 600 86400 60", ttl
                )
            if dns.rdatatype.NS not in node:
                self.set_record(label, "NS", f"ns1.{label}", ttl)

    def fail(self, name: str, mode: str, rtype: str | None = None) -> None:
        """Make queries for `name` and the names below it fail.

        Modes: "servfail" (rcode SERVFAIL), "refused" (rcode REFUSED), "timeout" (no answer at
        all). With `rtype`, only queries of that type fail (e.g. "SERVFAIL looking up CAA").
        A failing name inside a CNAME chain fails the whole lookup, as with a real resolver.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"Unknown fault mode {mode!r}; use one of {', '.join(FAULT_MODES)}.")
        key = (_name(name), _rtype(rtype) if rtype is not None else None)
        with self._lock:
            self._store.faults[key] = mode
            self._save()

    def heal(self, name: str, rtype: str | None = None) -> None:
        """Remove the fault set by `fail(name, ..., rtype)`."""
        key = (_name(name), _rtype(rtype) if rtype is not None else None)
        with self._lock:
            if self._store.faults.pop(key, None) is not None:
                self._save()

    def clear(self) -> None:
        """Forget every record and fault (including the defaults; see `reset`)."""
        with self._lock:
            self._store.rrsets.clear()
            self._store.faults.clear()
            self._save()

    def reset(self) -> None:
        """Clear, then install the defaults: our CNAME target resolving in its own zone."""
        with self._lock:
            self._store.rrsets.clear()
            self._store.faults.clear()
            if self.default_target:
                target = _name(self.default_target)
                if len(target) > 2:
                    self.add_zone(_display(target.parent()))
                self.set_record(_display(target), "A", DEFAULT_TARGET_A)
                self.set_record(_display(target), "AAAA", DEFAULT_TARGET_AAAA)
            self._save()

    def zone_of(self, name: str) -> str | None:
        """The zone holding `name` (the closest name above it with an SOA), if any."""
        with self._lock:
            zone = self._store.zone_of(_name(name))
        return _display(zone) if zone is not None else None

    def records(self) -> list[Record]:
        """A snapshot of every RRset, sorted by name (parents first) then type."""
        with self._lock:
            items = [
                Record(_display(name), dns.rdatatype.to_text(kind), data.ttl, data.values)
                for name, node in self._store.rrsets.items()
                for kind, data in node.items()
            ]
        return sorted(items, key=lambda r: (tuple(reversed(r.name.split("."))), r.rtype))

    def faults(self) -> list[Fault]:
        with self._lock:
            return sorted(
                (
                    Fault(_display(name), mode, dns.rdatatype.to_text(kind) if kind else None)
                    for (name, kind), mode in self._store.faults.items()
                ),
                key=lambda f: (f.name, f.rtype or ""),
            )

    # -- persistence --------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "records": [
                {"name": r.name, "type": r.rtype, "ttl": r.ttl, "values": list(r.values)}
                for r in self.records()
            ],
            "faults": [{"name": f.name, "mode": f.mode, "type": f.rtype} for f in self.faults()],
        }

    def _save(self) -> None:
        # Called with the lock held, so saves are serialised and always see a consistent state.
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file in the same directory, then rename over the old one: a crash
        # mid-write leaves the previous state, never half a JSON document.
        fd, tmp = tempfile.mkstemp(prefix=".dns-", suffix=".json", dir=self.state_file.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self._snapshot(), handle, indent=1)
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self) -> None:
        assert self.state_file is not None
        try:
            data = json.loads(self.state_file.read_text())
            records: Iterable[dict[str, Any]] = data.get("records", [])
            faults: Iterable[dict[str, Any]] = data.get("faults", [])
        except (OSError, ValueError, AttributeError) as exc:
            logger.warning(
                "sandbox DNS: ignoring unreadable state file %s: %s", self.state_file, exc
            )
            self.reset()
            return
        with self._lock:
            self._store.rrsets.clear()
            self._store.faults.clear()
            for item in records:
                try:
                    self.set_record(item["name"], item["type"], item["values"], item.get("ttl", 60))
                except (KeyError, TypeError, ValueError) as exc:
                    logger.warning("sandbox DNS: skipping stored record %r: %s", item, exc)
            for item in faults:
                try:
                    self.fail(item["name"], item["mode"], item.get("type"))
                except (KeyError, TypeError, ValueError) as exc:
                    logger.warning("sandbox DNS: skipping stored fault %r: %s", item, exc)


def server_from_settings(
    state_dir: Path | None, *, host: str | None = None, port: int | None = None
) -> DnsSandbox:
    """The sandbox nameserver for `make run`: SANDBOX_HOST:SANDBOX_DNS_PORT (unless `host` or
    `port` says otherwise), state in dns.json."""
    from django.conf import settings

    return DnsSandbox(
        settings.SANDBOX_HOST if host is None else host,
        settings.SANDBOX_DNS_PORT if port is None else port,
        state_file=state_dir / "dns.json" if state_dir is not None else None,
        default_target=settings.DCV_CNAME_TARGET,
    )
