from __future__ import annotations

import uuid

from django.http import Http404

from accounts.caching import cached, organization_key
from accounts.models import Membership, Organization
from domains.models import Domain


def get_domain_or_404(membership: Membership, domain_id: uuid.UUID | str) -> Domain:
    """A domain of the current organization; another organization's domain is a 404."""
    try:
        return Domain.objects.get(organization_id=membership.organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None


def read_domain_or_404(organization: Organization, domain_id: uuid.UUID) -> Domain:
    """For pages and API reads (writes use `get_domain_or_404`): a domain of `organization` as
    of its cache version, from the cache. Another organization's domain is a 404, never cached.
    """
    return cached(domain_key(organization, domain_id), lambda: load_domain(organization, domain_id))


def domain_key(organization: Organization, domain_id: uuid.UUID) -> str:
    return organization_key(organization, "domain", str(domain_id))


def load_domain(organization: Organization, domain_id: uuid.UUID) -> Domain:
    """A domain of `organization` from the database, or a 404."""
    try:
        return Domain.objects.get(organization_id=organization.pk, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None
