from __future__ import annotations

import uuid

from django.http import Http404

from accounts.caching import cached, organization_key
from accounts.models import Organization
from domains.models import Domain


def get_domain_or_404(organization_id: int, domain_id: uuid.UUID | str) -> Domain:
    """A domain of the organization, from the database (for writes); another organization's
    domain is a 404."""
    try:
        return Domain.objects.get(organization_id=organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None


def read_domain_or_404(organization: Organization, domain_id: uuid.UUID) -> Domain:
    """For pages and API reads: a domain of `organization` as of its cache version, from the
    cache. Another organization's domain is a 404, never cached."""
    key = domain_key(organization, domain_id)
    return cached(key, lambda: get_domain_or_404(organization.pk, domain_id))


def domain_key(organization: Organization, domain_id: uuid.UUID) -> str:
    return organization_key(organization, "domain", str(domain_id))
