"""The DNS simulator, queried over real loopback UDP and TCP with dnspython."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest
from django.conf import settings

from sandbox.dns import DEFAULT_TARGET_A, DnsSandbox, Record, server_from_settings

ZONE = "client.test-customer.dev"
TARGET_ZONE = settings.DCV_CNAME_TARGET.split(".", 1)[1]


def ask(
    sandbox: DnsSandbox, name: str, rtype: str = "A", *, tcp: bool = False, timeout: float = 2.0
) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, sandbox.host, port=sandbox.port, timeout=timeout)


def answer_texts(response: dns.message.Message) -> list[str]:
    return [rrset.to_text() for rrset in response.answer]


def resolver_for(sandbox: DnsSandbox) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [sandbox.host]
    resolver.port = sandbox.port
    resolver.lifetime = 2.0
    return resolver


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_the_default_target_resolves_over_udp_and_tcp(dns_sandbox: DnsSandbox, tcp: bool) -> None:
    response = ask(dns_sandbox, settings.DCV_CNAME_TARGET, "A", tcp=tcp)

    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.RA
    assert answer_texts(response) == [f"{settings.DCV_CNAME_TARGET}. 60 IN A {DEFAULT_TARGET_A}"]


def test_udp_and_tcp_share_one_port_and_the_address_is_a_resolver_setting(
    dns_sandbox: DnsSandbox,
) -> None:
    assert dns_sandbox.address == f"127.0.0.1:{dns_sandbox.port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.connect(("127.0.0.1", dns_sandbox.port))


def test_a_query_through_a_cname_chain_answers_with_the_whole_chain(
    dns_sandbox: DnsSandbox,
) -> None:
    dns_sandbox.cname(f"app.{ZONE}", f"www.{ZONE}")
    dns_sandbox.cname(f"www.{ZONE}", settings.DCV_CNAME_TARGET)

    response = ask(dns_sandbox, f"app.{ZONE}", "A")

    assert [(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in response.answer] == [
        (f"app.{ZONE}.", "CNAME"),
        (f"www.{ZONE}.", "CNAME"),
        (f"{settings.DCV_CNAME_TARGET}.", "A"),
    ]
    answer = resolver_for(dns_sandbox).resolve(f"app.{ZONE}", "A")
    assert answer.canonical_name.to_text() == f"{settings.DCV_CNAME_TARGET}."


def test_a_cname_query_answers_the_cname_itself_without_chasing(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.cname(f"app.{ZONE}", f"www.{ZONE}")
    dns_sandbox.cname(f"www.{ZONE}", settings.DCV_CNAME_TARGET)

    response = ask(dns_sandbox, f"app.{ZONE}", "CNAME")

    assert answer_texts(response) == [f"app.{ZONE}. 60 IN CNAME www.{ZONE}."]


def test_an_unknown_name_is_nxdomain_with_the_zone_soa_in_authority(
    dns_sandbox: DnsSandbox,
) -> None:
    dns_sandbox.add_zone(ZONE)

    response = ask(dns_sandbox, f"nothing-here.{ZONE}", "A")

    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.answer == []
    assert [(r.name.to_text(), r.rdtype) for r in response.authority] == [
        (f"{ZONE}.", dns.rdatatype.SOA)
    ]


def test_a_name_outside_every_zone_is_nxdomain_without_authority(dns_sandbox: DnsSandbox) -> None:
    response = ask(dns_sandbox, "nowhere.example.invalid", "A")

    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.authority == []


def test_an_existing_name_without_the_type_is_nodata(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.add_zone(ZONE)
    dns_sandbox.set_record(f"app.{ZONE}", "TXT", "hello world")

    response = ask(dns_sandbox, f"app.{ZONE}", "AAAA")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []
    assert response.authority[0].rdtype == dns.rdatatype.SOA


def test_an_empty_non_terminal_exists_so_it_is_nodata_not_nxdomain(
    dns_sandbox: DnsSandbox,
) -> None:
    dns_sandbox.set_record(f"deep.below.{ZONE}", "A", "203.0.113.9")

    assert ask(dns_sandbox, f"below.{ZONE}", "A").rcode() == dns.rcode.NOERROR
    assert ask(dns_sandbox, f"other.{ZONE}", "A").rcode() == dns.rcode.NXDOMAIN


def test_add_zone_creates_an_soa_and_ns_that_zone_for_name_finds(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.add_zone(ZONE)

    soa = ask(dns_sandbox, ZONE, "SOA")
    ns = ask(dns_sandbox, ZONE, "NS", tcp=True)
    zone = dns.resolver.zone_for_name(f"a.b.{ZONE}", resolver=resolver_for(dns_sandbox))

    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    assert answer_texts(ns) == [f"{ZONE}. 300 IN NS ns1.{ZONE}."]
    assert zone.to_text() == f"{ZONE}."


def test_txt_and_caa_values_are_served_as_given(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.set_record(ZONE, "TXT", ["v=spf1 -all", '"already quoted"'])
    dns_sandbox.set_record(ZONE, "CAA", ['0 issue "pki.goog"', '128 issuewild ";"'], ttl=300)

    txt = ask(dns_sandbox, ZONE, "TXT")
    caa = ask(dns_sandbox, ZONE, "CAA")

    assert sorted(r.to_text() for r in txt.answer[0]) == ['"already quoted"', '"v=spf1 -all"']
    assert caa.answer[0].ttl == 300
    assert sorted(r.to_text() for r in caa.answer[0]) == ['0 issue "pki.goog"', '128 issuewild ";"']


@pytest.mark.parametrize(
    ("mode", "rcode"), [("servfail", dns.rcode.SERVFAIL), ("refused", dns.rcode.REFUSED)]
)
def test_a_failing_name_answers_with_the_fault_rcode_for_itself_and_below(
    dns_sandbox: DnsSandbox, mode: str, rcode: dns.rcode.Rcode
) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.fail(ZONE, mode)

    assert ask(dns_sandbox, f"app.{ZONE}", "A").rcode() == rcode
    assert ask(dns_sandbox, ZONE, "SOA", tcp=True).rcode() == rcode
    assert ask(dns_sandbox, settings.DCV_CNAME_TARGET, "A").rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_timeout_fault_sends_no_answer_at_all(dns_sandbox: DnsSandbox, tcp: bool) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.fail(f"app.{ZONE}", "timeout")

    started = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        ask(dns_sandbox, f"app.{ZONE}", "A", tcp=tcp, timeout=0.3)
    assert time.monotonic() - started < 2


def test_healing_a_fault_restores_answers(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.fail(f"app.{ZONE}", "servfail")
    dns_sandbox.heal(f"app.{ZONE}")

    assert ask(dns_sandbox, f"app.{ZONE}", "A").rcode() == dns.rcode.NOERROR
    assert dns_sandbox.faults() == []


def test_a_fault_for_one_type_leaves_the_other_types_alone(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.fail(f"app.{ZONE}", "servfail", rtype="CAA")

    assert ask(dns_sandbox, f"app.{ZONE}", "CAA").rcode() == dns.rcode.SERVFAIL
    assert ask(dns_sandbox, f"app.{ZONE}", "A").rcode() == dns.rcode.NOERROR


def test_a_fault_inside_a_cname_chain_fails_the_whole_lookup(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.cname(f"app.{ZONE}", "edge.other-host.test")
    dns_sandbox.set_record("edge.other-host.test", "A", "203.0.113.9")
    dns_sandbox.fail("other-host.test", "servfail")

    response = ask(dns_sandbox, f"app.{ZONE}", "A")

    assert response.rcode() == dns.rcode.SERVFAIL
    assert response.answer == []


def test_a_cname_loop_is_servfail(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.cname(f"a.{ZONE}", f"b.{ZONE}")
    dns_sandbox.cname(f"b.{ZONE}", f"a.{ZONE}")

    assert ask(dns_sandbox, f"a.{ZONE}", "A").rcode() == dns.rcode.SERVFAIL
    assert ask(dns_sandbox, f"a.{ZONE}", "CNAME").rcode() == dns.rcode.NOERROR


def test_an_answer_too_big_for_udp_is_truncated_and_complete_over_tcp(
    dns_sandbox: DnsSandbox,
) -> None:
    values = [f"203.0.113.{i}" for i in range(1, 101)]
    dns_sandbox.set_record(f"big.{ZONE}", "A", values)

    query = dns.message.make_query(f"big.{ZONE}", "A", use_edns=False)
    udp = dns.query.udp(
        query, dns_sandbox.host, port=dns_sandbox.port, timeout=2, ignore_trailing=True
    )
    answer = resolver_for(dns_sandbox).resolve(f"big.{ZONE}", "A")

    assert udp.flags & dns.flags.TC
    assert sorted(r.to_text() for r in answer.rrset) == sorted(values)


def test_a_malformed_query_gets_formerr_and_a_runt_packet_gets_nothing(
    dns_sandbox: DnsSandbox,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(
            b"\x12\x34" + b"\x01\x00" + b"\x00\x05" + b"\xff" * 10,
            (dns_sandbox.host, dns_sandbox.port),
        )
        reply = dns.message.from_wire(sock.recv(512))
        sock.sendto(b"\x00\x01", (dns_sandbox.host, dns_sandbox.port))
        readable, _, _ = select.select([sock], [], [], 0.3)

    assert reply.id == 0x1234
    assert reply.rcode() == dns.rcode.FORMERR
    assert readable == []


def test_a_cname_replaces_other_records_and_other_records_replace_a_cname(
    dns_sandbox: DnsSandbox,
) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.cname(f"app.{ZONE}", settings.DCV_CNAME_TARGET)
    after_cname = [r.rtype for r in dns_sandbox.records() if r.name == f"app.{ZONE}"]
    dns_sandbox.set_record(f"app.{ZONE}", "AAAA", "2001:db8::9")
    after_aaaa = [r.rtype for r in dns_sandbox.records() if r.name == f"app.{ZONE}"]

    assert after_cname == ["CNAME"]
    assert after_aaaa == ["AAAA"]


@pytest.mark.parametrize(
    ("name", "rtype", "values"),
    [
        ("app.example.test", "A", "not-an-address"),
        ("app.example.test", "AAAA", "203.0.113.1"),
        ("app.example.test", "NOPE", "x"),
        ("", "A", "203.0.113.1"),
        ("app.example.test", "CNAME", ["a.example.test", "b.example.test"]),
    ],
)
def test_invalid_records_are_refused_with_value_error(
    dns_sandbox: DnsSandbox, name: str, rtype: str, values: str | list[str]
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        dns_sandbox.set_record(name, rtype, values)


def test_a_zone_apex_cannot_get_a_cname(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.add_zone(ZONE)

    with pytest.raises(ValueError, match="apex"):
        dns_sandbox.cname(ZONE, settings.DCV_CNAME_TARGET)


def test_delete_record_removes_one_type_or_the_whole_name(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.set_record(f"app.{ZONE}", "A", "203.0.113.9")
    dns_sandbox.set_record(f"app.{ZONE}", "TXT", "note")

    dns_sandbox.delete_record(f"app.{ZONE}", "TXT")
    one_left = ask(dns_sandbox, f"app.{ZONE}", "A").rcode()
    dns_sandbox.delete_record(f"APP.{ZONE}.")

    assert one_left == dns.rcode.NOERROR
    assert ask(dns_sandbox, f"app.{ZONE}", "A").rcode() == dns.rcode.NXDOMAIN


def test_records_is_a_sorted_snapshot_and_reset_restores_only_the_defaults(
    dns_sandbox: DnsSandbox,
) -> None:
    dns_sandbox.cname(f"App.{ZONE}.", settings.DCV_CNAME_TARGET)
    snapshot = dns_sandbox.records()
    dns_sandbox.fail(ZONE, "timeout")
    dns_sandbox.reset()

    assert Record(f"app.{ZONE}", "CNAME", 60, (f"{settings.DCV_CNAME_TARGET}.",)) in snapshot
    assert {r.name for r in dns_sandbox.records()} == {TARGET_ZONE, settings.DCV_CNAME_TARGET}
    assert dns_sandbox.faults() == []


def test_clear_forgets_everything(dns_sandbox: DnsSandbox) -> None:
    dns_sandbox.clear()

    assert dns_sandbox.records() == []
    assert ask(dns_sandbox, settings.DCV_CNAME_TARGET, "A").rcode() == dns.rcode.NXDOMAIN


def test_records_and_faults_survive_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state" / "dns.json"
    first = DnsSandbox(state_file=state_file, default_target="dcv.pcnaid.com").start()
    try:
        first.cname(f"app.{ZONE}", "dcv.pcnaid.com")
        first.fail(f"down.{ZONE}", "refused")
    finally:
        first.stop()
    second = DnsSandbox(state_file=state_file, default_target="dcv.pcnaid.com").start()
    try:
        chain = ask(second, f"app.{ZONE}", "A", tcp=True)
        refused = ask(second, f"down.{ZONE}", "A")
    finally:
        second.stop()

    assert [r.rdtype for r in chain.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert refused.rcode() == dns.rcode.REFUSED
    assert json.loads(state_file.read_text())["version"] == 1
    assert sorted(p.name for p in state_file.parent.iterdir()) == ["dns.json"]


def test_an_unreadable_state_file_starts_from_the_defaults(tmp_path: Path) -> None:
    state_file = tmp_path / "dns.json"
    state_file.write_text("{not json")

    server = DnsSandbox(state_file=state_file, default_target="dcv.pcnaid.com").start()
    server.stop()

    assert {r.name for r in server.records()} == {"pcnaid.com", "dcv.pcnaid.com"}
    assert json.loads(state_file.read_text())["records"]


def test_updates_during_concurrent_queries_never_give_a_broken_answer(
    dns_sandbox: DnsSandbox,
) -> None:
    name = f"busy.{ZONE}"
    old = ["203.0.113.1", "203.0.113.2"]
    new = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    dns_sandbox.set_record(name, "A", old)
    seen: list[frozenset[str]] = []
    problems: list[str] = []
    stop = threading.Event()

    def query(tcp: bool) -> None:
        for _ in range(60):
            try:
                response = ask(dns_sandbox, name, "A", tcp=tcp)
            except (dns.exception.DNSException, OSError) as exc:
                problems.append(repr(exc))
                continue
            if response.rcode() != dns.rcode.NOERROR or len(response.answer) != 1:
                problems.append(response.to_text())
                continue
            seen.append(frozenset(r.to_text() for r in response.answer[0]))

    def flip() -> None:
        for i in range(200):
            if stop.is_set():
                return
            dns_sandbox.set_record(name, "A", new if i % 2 else old)

    threads = [threading.Thread(target=query, args=(i % 2 == 1,)) for i in range(4)]
    flipper = threading.Thread(target=flip)
    flipper.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    stop.set()
    flipper.join(timeout=30)

    assert problems == []
    assert len(seen) == 240
    assert set(seen) <= {frozenset(old), frozenset(new)}


def test_server_from_settings_binds_the_sandbox_port_with_a_state_file(tmp_path: Path) -> None:
    server = server_from_settings(tmp_path)

    assert server.address == f"{settings.SANDBOX_HOST}:{settings.SANDBOX_DNS_PORT}"
    assert server.state_file == tmp_path / "dns.json"
    assert server.default_target == settings.DCV_CNAME_TARGET


def test_the_sandbox_dns_command_serves_until_terminated(tmp_path: Path) -> None:
    state_file = tmp_path / "dns.json"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dcvaas.test_settings"}
    process = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
        # Port 0: the server binds a free UDP and TCP pair itself and says which in its banner
        # (a port picked here and bound there could be taken in between).
        [sys.executable, "manage.py", "sandbox_dns", "--port", "0"]
        + ["--state-file", str(state_file)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # written once both sockets are bound
        port = int(banner.split("127.0.0.1:")[1].split()[0])
        sandbox = DnsSandbox(port=port)  # only for its address; not started
        response = ask(sandbox, settings.DCV_CNAME_TARGET, "A", timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)

    assert banner.strip() == f"Sandbox DNS server on 127.0.0.1:{port} (UDP and TCP)"
    assert answer_texts(response) == [f"{settings.DCV_CNAME_TARGET}. 60 IN A {DEFAULT_TARGET_A}"]
    assert process.returncode == 0, output
    assert state_file.exists()
