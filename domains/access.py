from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from domains.models import Domain


def get_domain_or_404(
    organization_id: int,
    domain_id: uuid.UUID | str,
    *,
    with_dns_host: bool = False,
    queryset: QuerySet[Domain] | None = None,
) -> Domain:
    """A domain of the organization; another organization's domain is a 404. `with_dns_host`:
    its DNS host detection and last records check joined in (the domain page's, in the same
    query). `queryset`: the domains to look in, with what a page adds to the query."""
    domains = Domain.objects.all() if queryset is None else queryset
    if with_dns_host:
        domains = domains.select_related("dns_host", "dns_check")
    try:
        return domains.get(organization_id=organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None
