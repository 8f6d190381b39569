from __future__ import annotations

import uuid

from django.http import Http404

from accounts.models import Membership
from domains.models import Domain


def get_domain_or_404(membership: Membership, domain_id: uuid.UUID | str) -> Domain:
    """A domain of the current organization; another organization's domain is a 404."""
    try:
        return Domain.objects.get(organization_id=membership.organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None
