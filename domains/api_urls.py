from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from accounts import api as accounts_api
from dcvaas.middleware import allow_template_styles
from domains import api
from domains.handoffs import api as handoffs_api
from domains.origins import api as origins_api
from domains.webhooks import api as webhooks_api

# The schema and its docs page are public: they describe the API, they expose no data.
schema_view = SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny])
# The split view serves Swagger UI's start-up script as a file (?script), not inline, and its
# page's one <style> is allowed by hash: the page works under our Content-Security-Policy.
docs_view = allow_template_styles("drf_spectacular/swagger_ui.html")(
    SpectacularSwaggerSplitView.as_view(
        url_name="api:schema", authentication_classes=[], permission_classes=[AllowAny]
    )
)


@csrf_exempt  # nothing is changed, and token clients send no CSRF token
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Anything else under /api/v1/ answers in the API's own error format, not an HTML page."""
    return JsonResponse(
        {"code": "not_found", "detail": "No such endpoint or object. See /api/v1/docs/."},
        status=404,
    )


app_name = "api"

urlpatterns = [
    path("domains", api.DomainListCreateApi.as_view(), name="domains"),
    path("domains/<uuid:domain_id>", api.DomainDetailApi.as_view(), name="domain"),
    path("domains/<uuid:domain_id>/check", api.DomainCheckApi.as_view(), name="domain-check"),
    # The same endpoints with a trailing slash, served rather than redirected (a redirected
    # POST loses its body with most clients); the schema lists each endpoint once.
    path("domains/", api.DomainListCreateApi.as_view()),
    path("domains/<uuid:domain_id>/", api.DomainDetailApi.as_view()),
    path("domains/<uuid:domain_id>/check/", api.DomainCheckApi.as_view()),
    path("domains/<uuid:domain_id>/dns", api.DomainDnsApi.as_view(), name="domain-dns"),
    path("domains/<uuid:domain_id>/dns/", api.DomainDnsApi.as_view()),
    path(
        "domains/<uuid:domain_id>/handoffs",
        handoffs_api.HandoffListCreateApi.as_view(),
        name="domain-handoffs",
    ),
    path(
        "domains/<uuid:domain_id>/handoffs/<uuid:handoff_id>",
        handoffs_api.HandoffDetailApi.as_view(),
        name="domain-handoff",
    ),
    path("domains/<uuid:domain_id>/handoffs/", handoffs_api.HandoffListCreateApi.as_view()),
    path(
        "domains/<uuid:domain_id>/handoffs/<uuid:handoff_id>/",
        handoffs_api.HandoffDetailApi.as_view(),
    ),
    path("origins", origins_api.OriginListCreateApi.as_view(), name="origins"),
    path("origins/<uuid:origin_id>", origins_api.OriginDetailApi.as_view(), name="origin"),
    path("origins/", origins_api.OriginListCreateApi.as_view()),
    path("origins/<uuid:origin_id>/", origins_api.OriginDetailApi.as_view()),
    path("webhook-endpoints", webhooks_api.EndpointListCreateApi.as_view(), name="webhooks"),
    path(
        "webhook-endpoints/<uuid:endpoint_id>",
        webhooks_api.EndpointDetailApi.as_view(),
        name="webhook",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/rotate-secret",
        webhooks_api.EndpointRotateSecretApi.as_view(),
        name="webhook-rotate",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/test",
        webhooks_api.EndpointTestApi.as_view(),
        name="webhook-test",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries",
        webhooks_api.DeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries/<int:delivery_id>/resend",
        webhooks_api.DeliveryResendApi.as_view(),
        name="webhook-resend",
    ),
    path("audit-events", accounts_api.AuditEventListApi.as_view(), name="audit-events"),
    path("audit-events/", accounts_api.AuditEventListApi.as_view()),
    path("members", accounts_api.MemberListApi.as_view(), name="members"),
    path("members/", accounts_api.MemberListApi.as_view()),
    path("invitations", accounts_api.InvitationListCreateApi.as_view(), name="invitations"),
    path("invitations/", accounts_api.InvitationListCreateApi.as_view()),
    path(
        "invitations/<int:invitation_id>",
        accounts_api.InvitationDetailApi.as_view(),
        name="invitation",
    ),
    path("invitations/<int:invitation_id>/", accounts_api.InvitationDetailApi.as_view()),
    path("schema/", schema_view, name="schema"),
    path("docs/", docs_view, name="docs"),
    # [\s\S], not `.`: a path with an encoded newline (%0A) must not fall through to HTML.
    re_path(r"^(?P<rest>[\s\S]*)$", not_found),
]
