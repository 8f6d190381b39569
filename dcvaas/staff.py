"""The staff status page: is the sync loop keeping up, and is anything outside failing?"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.models import StripeEvent, StripeEventStatus
from domains.cloudflare import CloudflareClient, CloudflareError
from domains.models import Domain, SyncRun
from domains.rate_budget import budget

logger = logging.getLogger(__name__)
QUOTA_CACHE_SECONDS = 60


def _quota() -> dict[str, Any]:
    """Cloudflare's hostname quota, cached: a page view must not spend the API budget."""
    cached = cache.get("staff:cloudflare-quota")
    if cached is not None:
        return dict(cached)
    try:
        quota = CloudflareClient(max_wait=2).get_quota()
    except (CloudflareError, ImproperlyConfigured) as error:
        logger.warning("staff status: quota unavailable: %s", error)
        return {"error": str(error)}
    value = {
        "used": quota.used,
        "allocated": quota.allocated,
        "hard_cap": quota.hard_cap,
        "exceeded": quota.exceeded,
    }
    cache.set("staff:cloudflare-quota", value, QUOTA_CACHE_SECONDS)
    return value


@login_required
def status(request: HttpRequest) -> HttpResponse:
    """Sync lag, the last cycle, Cloudflare budget and quota, webhook failures. Staff only."""
    if not request.user.is_staff:
        raise Http404
    now = timezone.now()
    oldest_due = Domain.objects.filter(next_sync_at__lte=now).aggregate(oldest=Min("next_sync_at"))
    by_status = dict(
        Domain.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    usage = budget.usage()
    failed_events = StripeEvent.objects.filter(status=StripeEventStatus.FAILED)
    context = {
        "now": now,
        "oldest_due_at": oldest_due["oldest"],
        "due_count": Domain.objects.filter(next_sync_at__lte=now).count(),
        "by_status": sorted(by_status.items()),
        "last_run": SyncRun.objects.order_by("-started_at").first(),
        "budget": usage,
        "quota": _quota(),
        "webhook_failures": failed_events.count(),
        "recent_failures": failed_events.order_by("-received_at")[:10],
    }
    return render(request, "staff/status.html", context)
