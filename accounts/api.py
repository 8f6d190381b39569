"""The audit log in the token API (`/api/v1/audit-events`): the organization's events, newest
first, filtered like the page."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.audit import ACTIONS, audit_events
from dcvaas.api import (
    BAD_PARAMETER,
    ERRORS,
    NO_SUCH_PAGE,
    PAGE_PARAMETERS,
    PageParameters,
    Pagination,
    StrictApiView,
    UtcDateTimeField,
    page_of,
    request_token,
)


class AuditEventSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    created_at = UtcDateTimeField()
    action = serializers.ChoiceField(choices=list(ACTIONS))
    actor = serializers.CharField(
        source="actor_label", help_text="Who: a user name, a token, or empty for the system."
    )
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target = serializers.CharField(source="target_label")
    changes = serializers.DictField(help_text="What changed: {field: [before, after]} or facts.")
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()


class AuditFilter(PageParameters):
    actor = serializers.CharField(required=False, max_length=150, help_text="Part of the name.")
    action = serializers.ChoiceField(required=False, choices=list(ACTIONS))
    since = serializers.DateField(required=False, help_text="From this day (YYYY-MM-DD).")
    until = serializers.DateField(required=False, help_text="Up to this day, inclusive.")


AuditPageSerializer = page_of("AuditEventPage", AuditEventSerializer)


class AuditEventListApi(StrictApiView):
    query_parameters = {"GET": PAGE_PARAMETERS | {"actor", "action", "since", "until"}}

    @extend_schema(
        operation_id="audit_events_list",
        parameters=[AuditFilter],
        responses={200: AuditPageSerializer, **BAD_PARAMETER, **ERRORS, **NO_SUCH_PAGE},
    )
    def get(self, request: Request) -> Response:
        """Who did what in the organization, newest first (kept AUDIT_RETENTION_DAYS)."""
        filters = AuditFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        events = audit_events(
            request_token(request).organization_id,
            actor=data.get("actor", ""),
            action=data.get("action", ""),
            since=data.get("since"),
            until=data.get("until"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)
