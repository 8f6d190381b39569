"""Request middleware of our own: one log line per request, with ids and a request id.

The Content Security Policy itself is django-csp's `CSPMiddleware` (settings `# SECURITY`),
which also makes the per-request nonce (`request.csp_nonce`); `allow_template_styles` lets one
third-party page keep the inline styles it ships, by hash.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from csp.decorators import csp_update
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template

logger = logging.getLogger("dcvaas.requests")

# An X-Request-ID set by our proxy is kept (so its lines and ours can be matched) only if it
# looks like an id: a client could otherwise write anything into our logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{8,64}")


def _organization_id(request: HttpRequest, user: Any) -> object:
    # An API request's organization is its token's; DRF sets `auth` on the Django request.
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "organization_id"):
        return token.organization_id
    # A view that checked membership cached it on the request (accounts.access); otherwise
    # the user's current organization, a column of the user row: no query either way.
    membership = getattr(request, "_dcvaas_membership", None)
    if membership is not None:
        return membership.organization_id
    return getattr(user, "current_organization_id", None) if user is not None else None


def allow_template_styles(
    template_name: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator adding the hashes of `template_name`'s inline `<style>` blocks to the
    view's style-src, and nothing else.

    For Swagger UI's page (drf-spectacular's template has a fixed `<style>`): hashing the
    template's own text at start-up keeps working across upgrades, and unlike
    'unsafe-inline' allows no injected style.
    """
    source = get_template(template_name).template.source  # type: ignore[attr-defined]
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
        for block in re.findall(r"<style[^>]*>(.*?)</style>", source, flags=re.S)
    ]
    return csp_update({"style-src": hashes})


def allow_https_images() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator letting the page show images from any https:// address (an
    organization's logo, hosted wherever it hosts it), and nothing else."""
    return csp_update({"img-src": ["https:"]})


class RequestLogMiddleware:
    """Logs `method path status duration user organization domain` once per request.

    Never the query string (OAuth callbacks carry a `code` and `state` there), headers,
    cookies or bodies. Placed near the top of MIDDLEWARE so throttled (429) and redirected
    requests are logged too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        duration_ms = (time.monotonic() - started) * 1000
        response["X-Request-ID"] = request_id

        # Only a user the request already loaded: evaluating the lazy `request.user` here would
        # cost a session and a user query on views that never needed them.
        user = getattr(request, "_cached_user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        token = getattr(request, "auth", None)
        match = request.resolver_match
        domain_id = match.kwargs.get("domain_id") if match is not None else None
        fields = {
            "request_id": request_id,
            "method": request.method,
            # Percent-encoded: a path is client input, and a newline or space in it must not
            # forge a log line or a field.
            "path": quote(request.path, safe="/:@!$&'()*+,;=-._~%"),
            "status": response.status_code,
            "duration_ms": round(duration_ms, 1),
            "user_id": user_id,
            "organization_id": _organization_id(request, user),
            "domain_id": str(domain_id) if domain_id is not None else None,
            "token_id": getattr(token, "pk", None),
        }
        level = logging.ERROR if response.status_code >= 500 else logging.INFO
        logger.log(
            level,
            "request %s",
            " ".join(f"{key}={'-' if value is None else value}" for key, value in fields.items()),
            extra={"request_fields": fields},
        )
        return response
