"""The shapes domains are shown in outside the pages: the API's answers and the webhooks'
payloads, from one set of DRF serializers (which also feed the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers

from dcvaas.api import OutputSerializer, UtcDateTimeField
from domains.cloudflare import cname_target
from domains.explain import Explanation, explain
from domains.models import Domain, DomainStatus, Origin


class RecordSerializer(OutputSerializer):
    type = serializers.CharField()
    name = serializers.CharField(help_text="The full record name.")
    host = serializers.CharField(help_text="The name relative to the zone, as DNS providers ask.")
    value = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    purpose = serializers.CharField()


class ExplanationSerializer(OutputSerializer):
    """What the domain's state means and what to do, in words (`domains.explain`)."""

    headline = serializers.CharField()
    next_step = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())

    def get_attribute(self, instance: Domain) -> Explanation:
        return explain(instance, target=cname_target())


class CloudflareStateSerializer(OutputSerializer):
    id = serializers.CharField(source="cloudflare_id")
    hostname_status = serializers.CharField(source="cloudflare_status")
    ssl_status = serializers.CharField()
    verification_errors = serializers.ListField(child=serializers.CharField())
    validation_errors = serializers.ListField(child=serializers.CharField())


class CertificateSerializer(OutputSerializer):
    """The domain's certificate; null until Cloudflare reports one."""

    issuer = serializers.CharField(source="certificate_issuer")
    expires_at = UtcDateTimeField(source="certificate_expires_at")

    def get_attribute(self, instance: Domain) -> Domain | None:
        return instance if instance.certificate_expires_at is not None else None


class OriginRefSerializer(OutputSerializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    address = serializers.CharField(help_text="The app's hostname or public IP address.")


class ServedBySerializer(OriginRefSerializer):
    """The origin the hostname points at now at Cloudflare; null: the shared default origin.

    A list's domains share one lookup of their organization's origins (kept in the root
    serializer's context), never one query per domain."""

    def get_attribute(self, instance: Domain) -> Origin | None:
        if not instance.origin_applied:
            return None
        context = self.context
        assert isinstance(context, dict)  # the root serializer's own, kept for its lifetime
        cache = context.setdefault("origins_by_record", {})
        if instance.organization_id not in cache:
            cache[instance.organization_id] = {
                o.record_name: o
                for o in Origin.objects.filter(organization_id=instance.organization_id)
            }
        found: Origin | None = cache[instance.organization_id].get(instance.origin_applied)
        return found


class DomainOutputSerializer(OutputSerializer):
    id = serializers.UUIDField()
    hostname = serializers.CharField(help_text="ASCII (punycode), as DNS and Cloudflare use it.")
    unicode_hostname = serializers.CharField(
        help_text="As people read it: münchen.shop.dev for xn--mnchen-3ya.shop.dev."
    )
    status = serializers.ChoiceField(choices=DomainStatus.choices)
    ready = serializers.BooleanField(
        source="is_ready", help_text="Hostname and certificate active."
    )
    dns_records = RecordSerializer(many=True)
    # Nested serializers, bound once per list (a serializer made per domain would copy its
    # fields for every row).
    explanation = ExplanationSerializer()
    cloudflare = CloudflareStateSerializer(source="*")
    certificate = CertificateSerializer(allow_null=True)
    origin = serializers.UUIDField(
        source="origin_id",
        allow_null=True,
        help_text="The origin chosen for this domain; null: the organization's default origin.",
    )
    served_by = ServedBySerializer(allow_null=True)
    origin_moving = serializers.SerializerMethodField(
        help_text="True while the hostname is being pointed at another origin."
    )
    last_error = serializers.CharField()
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField()
    activated_at = UtcDateTimeField(allow_null=True)
    last_synced_at = UtcDateTimeField(allow_null=True)

    def get_origin_moving(self, instance: Domain) -> bool:
        return instance.origin_server != instance.origin_applied
