"""The API's request parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES). A module of its own:
DRF imports it while its views module is still loading, so it may import nothing of ours that
imports DRF's views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# Deeper JSON than this is refused with `json_too_deep`: no input of ours nests past three
# levels, and a body of nested arrays would otherwise exhaust the parser's recursion.
MAX_JSON_DEPTH = 32


def _depth(value: Any) -> int:
    """How many containers (objects, arrays) nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the depth of a body bounded (400 `json_too_deep`)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise _too_deep() from error
        if _depth(data) > MAX_JSON_DEPTH:
            raise _too_deep()
        return data


def _too_deep() -> exceptions.ParseError:
    return exceptions.ParseError(
        f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.", code="json_too_deep"
    )
