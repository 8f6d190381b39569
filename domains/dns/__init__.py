"""The app's DNS checks: the only package that resolves DNS (house style: one choke point).

- `check_cname(hostname)`: does the customer's hostname point at our CNAME target
  (settings.DCV_CNAME_TARGET)? Follows the CNAME chain hop by hop and answers with a verdict and a
  sentence the customer can act on.
- `check_caa(hostname)`: do the hostname's CAA records (RFC 8659) let Cloudflare's certificate
  authorities issue for it?

Both ask the nameserver at settings.DNS_RESOLVER ("host:port", "host", "[v6]:port"; empty = the
system's resolver configuration), with settings.DNS_TIMEOUT seconds per query; settings are read
at call time. Neither raises for DNS trouble or bad input: "could not tell" is a verdict
(`Verdict.UNKNOWN`, `allows_cloudflare=None`) with the reason in its message. A malformed
DNS_RESOLVER setting is a deployment error and raises ImproperlyConfigured.

- `check_records(hostname, wanted)`: every record a domain needs, expected vs found, at the
  zone's own nameservers and at the resolver, each misconfiguration with its own code.
- `detect_host(hostname)`: the DNS host of the hostname's zone (found by its SOA), from the
  zone's nameservers and the table in `hosts`.
- `resolve_addresses(hostname)`: its A and AAAA addresses (where webhooks and origins go), and
  `address_refusal(address)`: why we never send traffic to an address, if we never do.

Inside: `resolver` (the nameserver setting, lookups, name parsing), `cname`, `caa` and
`addresses`. Import from the package, not the modules.
"""

from domains.dns.addresses import Addresses, address_refusal, resolve_addresses
from domains.dns.caa import CLOUDFLARE_CAS, KNOWN_CAA_TAGS, CaaCheck, CaaRecord, check_caa
from domains.dns.cname import MAX_HOPS, CnameCheck, Verdict, check_cname
from domains.dns.detect import HostDetection, detect_host
from domains.dns.records import CODES, RecordCheck, Wanted, check_records

__all__ = [
    "CLOUDFLARE_CAS",
    "CODES",
    "Addresses",
    "KNOWN_CAA_TAGS",
    "MAX_HOPS",
    "CaaCheck",
    "CaaRecord",
    "CnameCheck",
    "HostDetection",
    "RecordCheck",
    "Verdict",
    "Wanted",
    "address_refusal",
    "check_caa",
    "check_cname",
    "check_records",
    "detect_host",
    "resolve_addresses",
]
