from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domains.hostnames import HostnameError, parse_hostname

TARGET = "dcv.pcnaid.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("app.client.com", "app.client.com"),
        ("  App.Client.COM.  ", "app.client.com"),
        ("https://app.client.com/login?x=1", "app.client.com"),
        ("app.client.com:443", "app.client.com"),
        ("http://app.client.com:8080/?next=/a@b", "app.client.com"),
        ("app.client.com#top", "app.client.com"),
        ("münchen.client.de", "xn--mnchen-3ya.client.de"),
        ("ＡＰＰ.client.com", "app.client.com"),
        ("shop.client.co.uk", "shop.client.co.uk"),
    ],
)
def test_input_is_normalised(raw: str, expected: str) -> None:
    assert parse_hostname(raw, cname_target=TARGET).name == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("192.0.2.1", "ip_address"),
        ("2001:db8::1", "ip_address"),
        ("[2001:db8::1]", "ip_address"),
        ("localhost", "single_label"),
        ("intranet", "single_label"),
        ("app.test", "reserved_tld"),
        ("shop.example", "reserved_tld"),
        ("app.localhost", "reserved_tld"),
        ("app.example.com", "example_domain"),
        ("example.org", "example_domain"),
        ("a" * 64 + ".client.com", "label_too_long"),
        (".".join(["a" * 60] * 5) + ".com", "name_too_long"),
        ("app_1.client.com", "invalid_characters"),
        ("app!.client.com", "invalid_characters"),
        ("-app.client.com", "invalid_characters"),
        ("app..client.com", "empty_label"),
        ("*.client.com", "wildcard_not_allowed"),
        ("app.*.client.com", "invalid_characters"),
        ("app.client.notarealtld", "unknown_tld"),
        ("co.uk", "public_suffix"),
        ("dcv.pcnaid.com", "own_zone"),
        ("customer.pcnaid.com", "own_zone"),
        ("pcnaid.com", "own_zone"),
        ("ap@p.shop.dev", "userinfo"),
        ("mailto:a@shop.dev", "unsupported_scheme"),
        ("https://user:secret@app.shop.dev/", "userinfo"),
        ("app.shop.dev@evil.dev", "userinfo"),
        ("ftp://app.shop.dev/", "unsupported_scheme"),
        ("javascript:alert(1)", "unsupported_scheme"),
        ("1.0.0.127.in-addr.arpa", "reserved_tld"),
        ("app.home.arpa", "reserved_tld"),
        ("8.b.d.0.1.0.0.2.ip6.arpa", "reserved_tld"),
        ("app.shop.alt", "reserved_tld"),
        ("app.shop.onion", "reserved_tld"),
        ("app.shop.internal", "reserved_tld"),
        ("app.shop.dev..", "empty_label"),
        ("fe80::1", "ip_address"),
    ],
)
def test_bad_input_is_rejected_with_a_specific_code_and_message(raw: str, code: str) -> None:
    with pytest.raises(HostnameError) as caught:
        parse_hostname(raw, cname_target=TARGET)

    assert caught.value.code == code
    assert len(caught.value.message) > 20


def test_wildcards_are_accepted_when_the_plan_allows_them() -> None:
    hostname = parse_hostname("*.client.com", allow_wildcard=True, cname_target=TARGET)

    assert hostname.name == "*.client.com"
    assert hostname.is_wildcard


def test_an_apex_domain_is_accepted_and_marked_as_apex() -> None:
    apex = parse_hostname("client.com", cname_target=TARGET)
    sub = parse_hostname("app.client.co.uk", cname_target=TARGET)

    assert apex.is_apex
    assert apex.relative_name == "@"
    assert not sub.is_apex
    assert sub.relative_name == "app"
    assert sub.registrable_domain == "client.co.uk"


def test_the_relative_name_is_what_dns_providers_ask_for() -> None:
    assert parse_hostname("shop.eu.client.com").relative_name == "shop.eu"


def test_an_internationalised_name_is_shown_in_unicode() -> None:
    assert parse_hostname("xn--mnchen-3ya.client.de").unicode == "münchen.client.de"


# What Cloudflare itself accepts as a custom hostname (CONTRACT §3.1, codes 1407-1411).
CLOUDFLARE_OK = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def _check(raw: str) -> None:
    try:
        hostname = parse_hostname(raw, cname_target=TARGET)
    except HostnameError as error:
        rejection = error
    else:
        rejection = None
    if rejection is not None:
        assert rejection.message
        assert rejection.code
        return
    name = hostname.name
    assert CLOUDFLARE_OK.match(name), name
    assert len(name) <= 253
    assert name.isascii()
    assert name == name.lower()
    assert name.rsplit(".", 1)[1] not in {"test", "example", "invalid", "localhost"}
    assert not name.endswith(("example.com", "example.net", "example.org"))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_no_text_ever_crashes_the_parser(raw: str) -> None:
    _check(raw)


labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.*äöü", min_size=1, max_size=70)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(labels, min_size=1, max_size=6),
    st.sampled_from(["com", "dev", "co.uk", "de", "xyz", "test", ""]),
)
def test_every_accepted_hostname_is_valid_for_cloudflare(parts: list[str], tld: str) -> None:
    _check(".".join([*parts, tld]) if tld else ".".join(parts))
