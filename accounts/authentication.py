"""Token authentication for the API: `Authorization: Bearer dcv_...`, looked up by digest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiToken
from accounts.services import api_token_authenticate

if TYPE_CHECKING:
    # rest_framework.views imports this module (DEFAULT_AUTHENTICATION_CLASSES) while it is
    # itself being imported: a runtime import here would be circular.
    from rest_framework.views import APIView


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates an organization, not a person: `request.auth` is the `ApiToken`."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as 'Authorization: Bearer dcv_...'.", code="malformed_token"
            )
        try:
            raw = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(
                "The token contains characters a DCVaaS token never has.", code="invalid_token"
            ) from error
        token = api_token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "This token is not valid: it is mistyped, revoked, expired, or was never issued.",
                code="invalid_token",
            )
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class HasApiToken(BasePermission):
    """Only requests authenticated with an API token get through (401 otherwise), and only a
    write token changes anything: a read token gets 403 `read_only_token` on every method but
    GET, HEAD and OPTIONS, whatever the endpoint."""

    message = "Authenticate with an API token: 'Authorization: Bearer dcv_...'."
    code = "not_authenticated"

    def has_permission(self, request: Request, view: APIView) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise exceptions.NotAuthenticated(self.message, code=self.code)
        if request.method not in SAFE_METHODS and not token.can_write:
            raise exceptions.PermissionDenied(
                f"The token “{token.name}” can only read. Create a write token under API "
                "tokens to change things.",
                code="read_only_token",
            )
        return True


class ApiTokenRateThrottle(SimpleRateThrottle):
    """Requests per token, counted in the shared cache (Redis in production)."""

    scope = "api_token"

    def get_rate(self) -> str:
        from django.conf import settings

        # Read at call time (DRF reads its rates once, at import), so settings apply at once.
        return str(settings.API_THROTTLE_RATE)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
