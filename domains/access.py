from __future__ import annotations

import uuid

from django.http import Http404

from domains.models import Domain


def get_domain_or_404(organization_id: int, domain_id: uuid.UUID | str) -> Domain:
    """A domain of the organization; another organization's domain is a 404."""
    try:
        return Domain.objects.get(organization_id=organization_id, pk=domain_id)
    except Domain.DoesNotExist:
        raise Http404("No such domain") from None
