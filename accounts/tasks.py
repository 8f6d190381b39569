"""Celery tasks of accounts: the audit log's retention sweep."""

from __future__ import annotations

from celery import shared_task

from accounts.audit import audit_sweep


@shared_task(name="accounts.sweep_audit_log", acks_late=True)
def sweep_audit_log() -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS (daily; idempotent)."""
    return audit_sweep()
