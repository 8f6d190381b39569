"""Project-wide API conventions: JSON errors with a stable `code` and a human `detail`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _flatten(detail: Any) -> list[exceptions.ErrorDetail]:
    if isinstance(detail, dict):
        return [item for value in detail.values() for item in _flatten(value)]
    if isinstance(detail, list):
        return [item for value in detail for item in _flatten(value)]
    return [detail]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error answers `{"code": ..., "detail": ...}`, plus `errors` per field."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found here: no such object in your organization.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    first = _flatten(exc.detail)[0]
    body: dict[str, Any] = {"code": getattr(first, "code", "error"), "detail": str(first)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["errors"] = {
            field: [{"code": getattr(e, "code", "invalid"), "message": str(e)} for e in _flatten(v)]
            for field, v in exc.detail.items()
        }
        field = next(iter(exc.detail))
        if field != "non_field_errors":
            body["detail"] = f"{field}: {first}"
    response.data = body
    return response


class DomainPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def without_slash_aliases(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: an endpoint also served with a trailing slash is
    listed once, without it."""
    paths = {endpoint[0] for endpoint in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]
