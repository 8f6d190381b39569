"""Hand-off links: a domain's DNS instructions for whoever manages its DNS, at a no-login URL.

`services` makes, opens, extends and revokes links (only a digest of a link's secret is
stored); `views` serves the public page and the domain page's controls; `api` the same for
token clients under /api/v1/domains/{id}/handoffs.
"""
