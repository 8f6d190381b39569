"""Outgoing webhooks: a tenant's app hears about its domains, on the Standard Webhooks spec.

- The messages themselves are recorded by `domains.events` (the outbox), in the transaction of
  the change they describe, one delivery row per endpoint that wants the message's type; this
  package only reads them.
- `services`: what tenants do with endpoints (add, change, rotate, test, resend).
- `guard`: where we refuse to send (private, loopback, link-local, metadata and reserved
  addresses, our own hosts), checked on the address we actually connect to.
- `sender`: the only module that makes the HTTP request: signed with `standardwebhooks`, to the
  resolved and checked address, 10 s at most, no redirects, a capped response read.
- `delivery`: claiming due deliveries, the retry schedule, disabling an endpoint that fails
  for days.
"""
