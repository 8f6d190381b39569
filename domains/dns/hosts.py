"""DNS hosts as data: how to recognise one from a zone's nameservers, and how its record form
names things, so instructions can be written in the words the person will see.

Sources: `../shared/research/dns-handoff.md` §1.2 (nameserver patterns from dns-lexicon's
provider list; record-form labels from each host's own help where it was read). Where the
research marks a label UNCONFIRMED, the entry keeps the generic words ("Name", "Value") and
`labels_confirmed` is False: nothing here claims a form field nobody has seen. Adding a host is
adding an entry; `tests/domains/dns/test_hosts.py` holds the table's shape.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class Apex(StrEnum):
    """What the host offers at the bare domain, where a CNAME is not allowed."""

    FLATTENING = "flattening"  # a CNAME at the apex, answered as addresses
    ALIAS = "alias"  # an ALIAS/ANAME record type
    NONE = "none"  # neither (or only to its own cloud's targets)
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    ALL = "all"  # every nameserver of the zone is the host's
    SOME = "some"  # some are (a move between hosts, or a secondary)
    NONE = "none"  # none matched a host we know


@dataclass(frozen=True)
class DnsHost:
    key: str
    name: str
    # Regular expressions matched against the end of each nameserver's name (lower case, no
    # trailing dot).
    nameservers: tuple[str, ...]
    name_label: str = "Name"
    value_label: str = "Value"
    labels_confirmed: bool = False
    # True: the form wants the part before the zone (`app`), and adds the zone itself.
    appends_zone: bool | None = None
    # The apex's name in the form: "@", "" (left blank), or None when unknown.
    apex_name: str | None = None
    # The record's value must end with a dot, or the zone is appended to it too.
    value_needs_trailing_dot: bool = False
    apex: Apex = Apex.UNKNOWN
    # A proxy toggle on its records (Cloudflare's orange cloud).
    proxy_toggle: bool = False
    help_url: str = ""
    note: str = ""

    def matches(self, nameserver: str) -> bool:
        return any(re.search(rf"(^|\.){pattern}$", nameserver) for pattern in self.nameservers)


HOSTS: tuple[DnsHost, ...] = (
    DnsHost(
        "cloudflare",
        "Cloudflare",
        (r"ns\.cloudflare\.com",),
        name_label="Name",
        value_label="Target",
        labels_confirmed=True,
        appends_zone=True,
        apex_name="@",
        apex=Apex.FLATTENING,
        proxy_toggle=True,
        help_url="https://developers.cloudflare.com/dns/manage-dns-records/how-to/create-dns-records/",
    ),
    DnsHost(
        "godaddy",
        "GoDaddy",
        (r"domaincontrol\.com",),
    ),
    DnsHost(
        "namecheap",
        "Namecheap",
        (r"registrar-servers\.com",),
        name_label="Host",
        value_label="Value",
        labels_confirmed=True,
        appends_zone=True,
        apex_name="@",
        apex=Apex.ALIAS,
        help_url="https://www.namecheap.com/support/knowledgebase/article.aspx/9646/10/how-can-i-set-up-a-cname-record-for-my-domain",
        note="In Advanced DNS, choose “CNAME Record”. Namecheap adds the domain itself.",
    ),
    DnsHost(
        "route53",
        "Amazon Route 53",
        (r"awsdns-\d+\.(com|net|org|co\.uk)",),
        name_label="Record name",
        value_label="Value",
        labels_confirmed=True,
        appends_zone=True,
        apex_name="",
        help_url="https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-creating.html",
    ),
    DnsHost(
        "google",
        "Google Cloud DNS or Squarespace",
        (r"googledomains\.com",),
        note="Google Cloud DNS and Squarespace (which took over Google Domains) share these "
        "nameservers; the record goes wherever you manage this domain's DNS.",
    ),
    DnsHost("squarespace", "Squarespace", (r"squarespacedns\.com",)),
    DnsHost("porkbun", "Porkbun", (r"ns\.porkbun\.com", r"porkbun\.com"), apex=Apex.ALIAS),
    DnsHost("gandi", "Gandi", (r"gandi\.net",)),
    DnsHost("ovh", "OVHcloud", (r"ovh\.net", r"anycast\.me")),
    DnsHost("ionos", "IONOS", (r"ui-dns\.(com|org|de|biz)",)),
    DnsHost("hover", "Hover", (r"hover\.com",)),
    DnsHost("namecom", "Name.com", (r"name\.com",)),
    DnsHost("digitalocean", "DigitalOcean", (r"digitalocean\.com",), apex=Apex.NONE),
    DnsHost("vercel", "Vercel", (r"vercel-dns\.com",), apex=Apex.FLATTENING),
    DnsHost(
        "nsone",
        "Netlify DNS or NS1",
        (r"nsone\.net",),
        apex=Apex.FLATTENING,
        note="Netlify and NS1 share these nameservers. A zone at Netlify works only if the "
        "domain is delegated to it at the registrar.",
    ),
    DnsHost("azure", "Azure DNS", (r"azure-dns\.(com|net|org|info)",), apex=Apex.NONE),
    DnsHost(
        "dnsimple", "DNSimple", (r"dnsimple\.com", r"dnsimple-edge\.(net|org)"), apex=Apex.ALIAS
    ),
    DnsHost("hetzner", "Hetzner", (r"ns\.hetzner\.(com|de)", r"your-server\.de")),
    DnsHost("linode", "Akamai (Linode)", (r"linode\.com",)),
    DnsHost("wix", "Wix", (r"wixdns\.net",), apex=Apex.NONE),
    DnsHost("hostinger", "Hostinger", (r"dns-parking\.com", r"hostinger\.com")),
    DnsHost("dynadot", "Dynadot", (r"dyna-ns\.net",)),
    DnsHost("namesilo", "NameSilo", (r"dnsowl\.com",)),
    DnsHost("bluehost", "Bluehost", (r"bluehost\.com", r"hostmonster\.com")),
    DnsHost(
        "dnsmadeeasy",
        "DNS Made Easy",
        (r"dnsmadeeasy\.com",),
        name_label="Name",
        value_label="Alias to",
        labels_confirmed=True,
        appends_zone=True,
        value_needs_trailing_dot=True,
        apex=Apex.ALIAS,
        help_url="https://support.dnsmadeeasy.com/support/solutions/articles/47001001393-cname-record",
    ),
    DnsHost(
        "constellix",
        "Constellix",
        (r"constellix\.(com|net)",),
        appends_zone=True,
        value_needs_trailing_dot=True,
        apex=Apex.ALIAS,
        help_url="https://support.constellix.com/support/solutions/articles/47000849512-cname-records",
    ),
)

BY_KEY = {host.key: host for host in HOSTS}


def host_of(nameservers: list[str] | tuple[str, ...]) -> tuple[DnsHost | None, Confidence]:
    """The host most of `nameservers` belong to, and how sure that is."""
    names = [ns.lower().rstrip(".") for ns in nameservers]
    if not names:
        return None, Confidence.NONE
    votes: Counter[str] = Counter()
    for nameserver in names:
        for host in HOSTS:
            if host.matches(nameserver):
                votes[host.key] += 1
                break
    if not votes:
        return None, Confidence.NONE
    key, count = votes.most_common(1)[0]
    return BY_KEY[key], Confidence.ALL if count == len(names) else Confidence.SOME
