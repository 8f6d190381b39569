from __future__ import annotations

import uuid

from django.http import Http404

from domains.models import Domain


def get_domain_or_404(
    organization_id: int, domain_id: uuid.UUID | str, *, with_dns_host: bool = False
) -> Domain:
    """A domain of the organization; another organization's domain is a 404. `with_dns_host`:
    its DNS host detection and last records check joined in (the domain page's, in the same
    query)."""
    domains = (
        Domain.objects.select_related("dns_host", "dns_check") if with_dns_host else Domain.objects
    )
    try:
        return domains.get(organization_id=organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None
