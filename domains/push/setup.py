"""Setting push up at Cloudflare, and saying whether it is (for the command and the check)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from domains.cloudflare import CloudflareClient

SAAS_ALERT_NAME = "SSL for SaaS Custom Hostnames Alert"
DESTINATION_NAME = "DCVaaS"
POLICY_NAME = "DCVaaS custom hostnames"


class PushSetupError(Exception):
    pass


@dataclass(frozen=True)
class SetupResult:
    alert_type: str
    destination: str  # "created <id>" or "updated <id>"
    policy: str


@dataclass(frozen=True)
class PushStatus:
    configured: bool
    summary: str


def saas_alert_type(client: CloudflareClient) -> str:
    """The `alert_type` of the SaaS custom hostnames alert, found by its display name."""
    alerts = client.available_alerts()
    for alert in alerts:
        if alert.display_name.strip().lower() == SAAS_ALERT_NAME.lower() and alert.type:
            return alert.type
    names = ", ".join(sorted(a.display_name for a in alerts if "SSL" in a.display_name))
    raise PushSetupError(
        f"The account offers no “{SAAS_ALERT_NAME}” (SSL alerts offered: {names or 'none'}). "
        "It comes with Cloudflare for SaaS; webhooks also need a Pro or higher zone."
    )


def push_setup(client: CloudflareClient, *, url: str) -> SetupResult:
    secret = str(settings.CLOUDFLARE_WEBHOOK_SECRET)
    if not secret:
        raise PushSetupError(
            "Set CLOUDFLARE_WEBHOOK_SECRET first (a long random string): Cloudflare sends it "
            "with every notification and the receiver refuses anything without it."
        )
    if not url.startswith(("https://", "http://")) or not url.rstrip("/").endswith(
        "/webhooks/cloudflare"
    ):
        raise PushSetupError("--url must be your site's /webhooks/cloudflare, over https.")
    alert_type = saas_alert_type(client)
    existing = next((d for d in client.webhook_destinations() if d.name == DESTINATION_NAME), None)
    destination_id = client.webhook_destination_save(
        name=DESTINATION_NAME, url=url, secret=secret, id_=existing.id if existing else ""
    )
    policy = next((p for p in client.notification_policies() if p.name == POLICY_NAME), None)
    policy_id = client.notification_policy_save(
        name=POLICY_NAME,
        alert_type=alert_type,
        webhook_id=destination_id,
        description="Custom hostname certificate events, for DCVaaS's sync loop.",
        id_=policy.id if policy else "",
    )
    return SetupResult(
        alert_type=alert_type,
        destination=f"{'updated' if existing else 'created'} {destination_id} → {url}",
        policy=f"{'updated' if policy else 'created'} {policy_id}, enabled",
    )


def push_status(client: CloudflareClient) -> PushStatus:
    destination = next(
        (d for d in client.webhook_destinations() if d.name == DESTINATION_NAME), None
    )
    policy = next((p for p in client.notification_policies() if p.name == POLICY_NAME), None)
    if destination is None or policy is None:
        return PushStatus(
            False,
            "Push is not set up: run `manage.py cloudflare_notifications setup --url "
            "https://<your site>/webhooks/cloudflare`.",
        )
    linked = destination.id in policy.webhook_ids
    configured = linked and policy.enabled
    state = "enabled" if policy.enabled else "DISABLED"
    return PushStatus(
        configured,
        f"Destination “{destination.name}” → {destination.url}\n"
        f"Policy “{policy.name}” ({policy.alert_type}), {state}"
        + ("" if linked else ", NOT sending to that destination: run setup again"),
    )
