"""Access helpers: another organization's origins are a 404."""

from __future__ import annotations

import uuid

from django.http import Http404

from domains.models import Origin, OriginState


def get_origin_or_404(
    organization_id: int, origin_id: uuid.UUID | str, *, removing_too: bool = False
) -> Origin:
    """One of the organization's origins. One being removed is only found for reading."""
    origins = Origin.objects.filter(organization_id=organization_id)
    if not removing_too:
        origins = origins.exclude(state=OriginState.DELETING)
    try:
        return origins.get(pk=origin_id)
    except (Origin.DoesNotExist, ValueError, TypeError):
        raise Http404("No such origin") from None
