"""`OutputSerializer` writes what DRF's own `Serializer.to_representation` writes, to the byte.

It only moves DRF's per-row work to once per serializer; every case DRF treats specially
(defaults, nulls, skipped fields, methods, dotted and `*` sources, mappings, related fields)
must come out the same. The domains of the schema test cover every real shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from dcvaas.api import OutputSerializer
from domains.serializers import DomainOutputSerializer
from tests.domains.test_api_shapes import DOMAINS


def _as_drf_writes_it(monkeypatch: pytest.MonkeyPatch, make: Any) -> bytes:
    """The output with DRF's own walk over the fields, in this serializer and every nested one."""
    with monkeypatch.context() as patch:
        patch.setattr(
            OutputSerializer, "to_representation", serializers.Serializer.to_representation
        )
        return bytes(JSONRenderer().render(make()))


@pytest.mark.django_db
def test_every_kind_of_domain_is_written_as_drf_writes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    domains = list(DOMAINS.values())

    def make() -> Any:
        return DomainOutputSerializer(domains, many=True).data

    ours = bytes(JSONRenderer().render(make()))

    assert ours == _as_drf_writes_it(monkeypatch, make)
    assert len(ours) > 1000 * len(domains) // 2  # the real thing, not two empty lists


class Child(OutputSerializer):
    name = serializers.CharField()
    size = serializers.IntegerField(default=7)


class Edge(OutputSerializer):
    plain = serializers.CharField()
    method = serializers.CharField(source="shout")
    dotted = serializers.CharField(source="child.name")
    whole = Child(source="*")
    children = Child(many=True)
    missing_with_default = serializers.CharField(default="fallback")
    missing_nullable = serializers.CharField(allow_null=True)
    missing_optional = serializers.CharField(required=False)
    none = serializers.CharField(allow_null=True)
    computed = serializers.SerializerMethodField()
    written_only = serializers.CharField(write_only=True)
    uuid = serializers.UUIDField()
    flag = serializers.BooleanField()

    def get_computed(self, instance: Any) -> str:
        return f"computed from {self.context.get('who', 'nobody')}"


@dataclass
class Thing:
    plain: str = "plain"
    child: dict[str, Any] = field(default_factory=lambda: {"name": "kid"})
    name: str = "thing's own name"
    children: list[Any] = field(default_factory=list)
    none: None = None
    uuid: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=5))
    flag: bool = True
    written_only: str = "secret"

    def shout(self) -> str:
        return self.plain.upper()


def test_each_special_case_of_drf_comes_out_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    things = [
        Thing(children=[{"name": "a"}, {"name": "b", "size": 3}, Thing(name="c")]),
        Thing(plain="other", none=None, flag=False),
    ]

    def make() -> Any:
        return Edge(things, many=True, context={"who": "the test"}).data

    ours = make()

    assert bytes(JSONRenderer().render(ours)) == _as_drf_writes_it(monkeypatch, make)
    first = ours[0]
    assert first["method"] == "PLAIN"
    assert first["dotted"] == "kid"
    assert first["whole"] == {"name": "thing's own name", "size": 7}
    assert first["children"][1] == {"name": "b", "size": 3}
    assert first["missing_with_default"] == "fallback"
    assert first["missing_nullable"] is None
    assert "missing_optional" not in first
    assert "written_only" not in first
    assert first["computed"] == "computed from the test"


def test_a_missing_required_attribute_is_still_drfs_error() -> None:
    class Strict(OutputSerializer):
        absent = serializers.CharField()

    with pytest.raises(AttributeError, match="absent"):
        _ = Strict(Thing()).data
