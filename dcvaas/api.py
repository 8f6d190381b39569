"""Project-wide API plumbing shared by every API module: JSON errors with a stable `code` and a
human `detail`, strict input fields, query parameters checked, the token of the request, and
pagination. A feature's API imports this, never another feature's API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.fields import Field, SkipField
from rest_framework.pagination import PageNumberPagination
from rest_framework.relations import PKOnlyObject, RelatedField
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts.models import ApiToken
from domains.errors import DomainError


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


class StrictInputSerializer(serializers.Serializer[Any]):
    """An input serializer that refuses fields it does not know (400 `unknown_field`, the
    field named), as Stripe's API does: a misspelt field (`evnet_types`) would otherwise be
    dropped silently and the request do something else than asked."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(sorted(self.fields))
                raise serializers.ValidationError(
                    {
                        name: [
                            serializers.ErrorDetail(
                                f"Unknown field. Known ones: {known}.", code="unknown_field"
                            )
                        ]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class Pagination(PageNumberPagination):
    """Every list endpoint's shape: {count, next, previous, results}, 50 a page by default."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


PAGE_PARAMETERS = frozenset({"page", "page_size"})


class PageParameters(serializers.Serializer[Any]):
    """The query parameters of a list (validated, and documented in the schema); a list with
    filters adds its own fields."""

    page = serializers.IntegerField(min_value=1, required=False, help_text="From 1.")
    page_size = serializers.IntegerField(
        min_value=1, max_value=200, required=False, help_text="Default 50."
    )

    def to_internal_value(self, data: Any) -> Any:
        # DRF treats `?page=` as absent; the schema (and a caller's intent) says invalid.
        names: list[str] = list(self.fields)
        for name in names:
            if data.get(name, None) == "":
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Give a value or leave it out.", code="blank")]}
                )
        return super().to_internal_value(data)


def page_of(
    name: str, item: type[serializers.Serializer[Any]]
) -> type[serializers.Serializer[Any]]:
    """The serializer of a page of `item`s (for the schema), named `name`."""
    fields = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


def without_slash_aliases(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: an endpoint also served with a trailing slash is
    listed once, without it."""
    paths = {endpoint[0] for endpoint in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the dashboard: `Authorization: Bearer dcv_...`.",
        }


class OutputSerializer(serializers.Serializer[Any]):
    """A serializer of what the API and the webhooks send: DRF's own `to_representation`, with
    the work DRF repeats for every row done once per serializer.

    DRF walks a row's fields through a generator of readable fields, and reads each value
    through `Field.get_attribute`, which checks on every read whether the object is a mapping
    and whether the value is a method to call. A page of 50 domains is about 1,600 such reads.
    Here the readable fields and the attribute each one reads are listed once (the fields of a
    nested or listed serializer are bound once per list already), a row is checked once for
    being a mapping, and a value is read with `getattr` or `[]`. Whatever is not that simple
    case goes through DRF's own `get_attribute` unchanged: a field that overrides it, a dotted
    or `*` source, a method to call, a missing attribute (its default, null or SkipField), so
    the output is DRF's to the byte (tests/test_api_output.py compares the two).
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        steps = self.__dict__.get("_output_steps")
        if steps is None:
            steps = self.__dict__["_output_steps"] = [
                (field.field_name, field, _plain_source(field), isinstance(field, RelatedField))
                for field in self.fields.values()
                if not field.write_only
            ]
        is_mapping = isinstance(instance, Mapping)
        output: dict[str, Any] = {}
        for name, field, source, related in steps:
            try:
                if source is None:
                    value = field.get_attribute(instance)
                else:
                    try:
                        value = instance[source] if is_mapping else getattr(instance, source)
                    except (KeyError, AttributeError, ObjectDoesNotExist):
                        value = field.get_attribute(instance)  # DRF decides: default, None, skip
                    else:
                        if callable(value):
                            value = field.get_attribute(instance)  # DRF calls simple callables
            except SkipField:
                continue
            # A related field may stand for its object by a `PKOnlyObject`: null if its pk is.
            if (value.pk if related and isinstance(value, PKOnlyObject) else value) is None:
                output[name] = None
            else:
                output[name] = field.to_representation(value)
        return output


def _plain_source(field: Field[Any, Any, Any, Any]) -> str | None:
    """The one attribute (or key) `field` reads, when DRF's own reading of it is a plain one."""
    if type(field).get_attribute is not Field.get_attribute or len(field.source_attrs) != 1:
        return None
    return str(field.source_attrs[0])


class ErrorSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Stable, machine-readable reason.")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    # DRF's metaclass pops declared fields off the class, so these names shadow nothing.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.DictField()),
        required=False,
        help_text="Per field: a list of {code, message}.",
    )


class UtcDateTimeField(serializers.DateTimeField):
    """A time in the API: ISO 8601 in UTC (`2026-12-07T03:14:19.123456Z`). Naming the zone
    spares DRF a lookup of the current time zone for every value it writes."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)


class StrictCharField(serializers.CharField):
    """A JSON string, nothing else: DRF's CharField would turn 123 into "123"."""

    default_error_messages = {"invalid_type": "Send it as a JSON string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_type")
        return str(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false, nothing else: DRF's BooleanField would take 0, "yes" or "on"."""

    default_error_messages = {"invalid": "Send true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# A refusal's HTTP status by its code; every other code is a 400.
ERROR_STATUS = {
    "in_use": status.HTTP_409_CONFLICT,
    "default_in_use": status.HTTP_409_CONFLICT,
    "name_taken": status.HTTP_409_CONFLICT,
    "hostname_taken": status.HTTP_409_CONFLICT,
    "already_added": status.HTTP_409_CONFLICT,
    "plan_limit": status.HTTP_402_PAYMENT_REQUIRED,
    "throttled": status.HTTP_429_TOO_MANY_REQUESTS,
}


def refusal_response(error: DomainError) -> Response:
    http_status = ERROR_STATUS.get(error.code, status.HTTP_400_BAD_REQUEST)
    body: dict[str, Any] = {"code": error.code, "detail": error.message}
    if error.field:
        body["errors"] = {error.field: [{"code": error.code, "message": error.message}]}
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return Response(body, status=http_status, headers=headers)


ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Missing, malformed or revoked token."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
}
NO_SUCH_PAGE = {404: OpenApiResponse(ErrorSerializer, description="No such page.")}


def request_token(request: Request) -> ApiToken:
    token = request.auth
    assert isinstance(token, ApiToken)  # HasApiToken let the request through
    return token


class StrictApiView(APIView):
    """Refuses query parameters an endpoint does not take: a misspelt filter (?stauts=active)
    would otherwise be ignored silently and answer something the caller did not ask for."""

    query_parameters: dict[str, frozenset[str]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication and throttles come first
        known = self.query_parameters.get(request.method or "", frozenset())
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            hint = f"Known ones: {', '.join(sorted(known))}." if known else "It takes none."
            raise serializers.ValidationError(
                {
                    unknown[0] or "(empty)": [
                        serializers.ErrorDetail(
                            f"Unknown query parameter. {hint}", code="unknown_parameter"
                        )
                    ]
                }
            )


BAD_PARAMETER = {400: OpenApiResponse(ErrorSerializer, description="Unknown query parameter.")}
