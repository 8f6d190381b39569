"""Push: Cloudflare's notifications for custom hostname certificates (domains/cloudflare/CONTRACT.md
§11).

A notification is a hint that one hostname changed, never its state: the receiver
(`views.cloudflare_webhook`) checks the shared secret, records the hint (deduplicated by event
id) and answers at once; `services.hints_process` (a Celery task, kicked after each hint) fetches
each hinted domain's hostname from Cloudflare once, however many hints it got, and applies it
with the same code as every other Cloudflare answer. A burst bigger than a few GETs is handed to
the sync loop, whose zone listing costs one call per 50 domains: push never spends more than the
poller would. The poller stays as the backstop for lost notifications.
"""
