"""`POST /webhooks/cloudflare`: Cloudflare's notifications arrive here."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from domains.push.receiver import parse_notice
from domains.push.services import hint_record


@csrf_exempt  # authenticated by the shared secret, not a session
@require_POST
def cloudflare_webhook(request: HttpRequest) -> JsonResponse:
    """Check `cf-webhook-auth` (constant time), keep the hint, answer at once. Anything we do
    not recognise is still answered 2xx (and kept as ignored): Cloudflare's "Save and Test"
    sends a plain text message."""
    secret = str(settings.CLOUDFLARE_WEBHOOK_SECRET)
    given = request.headers.get("cf-webhook-auth", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return JsonResponse(
            {"code": "unauthorized", "detail": "Missing or wrong cf-webhook-auth."}, status=401
        )
    hint = hint_record(parse_notice(request.body))
    return JsonResponse({"ok": True, "duplicate": hint is None})
