"""Hand-off links by email: the instructions at once, reminders after about 1, 3 and 6 days
until the domain is active, each sent once however many workers run, a one-click unsubscribe
per recipient, and a failed send tried again rather than lost."""

from __future__ import annotations

import smtplib
import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import Organization, User
from domains.errors import DomainError
from domains.handoffs.emails import send_due_emails
from domains.handoffs.services import handoff_create, handoff_revoke
from domains.models import Domain, DomainStatus, HandoffEmail
from domains.services import domain_register
from sandbox.cloudflare import CloudflareSandbox

pytestmark = pytest.mark.django_db

HOSTNAME = "shop.acme.test-customer.dev"
IT = "it@customer-of-acme.example"


@pytest.fixture
def acme_domain(acme: Organization, cloudflare_sim: CloudflareSandbox) -> Domain:
    return domain_register(organization=acme, hostname=HOSTNAME).domain


def link_path(body: str) -> str:
    start = body.index("/dns/dnsm_")
    return body[start : body.index("/", start + 5) + 1]


def unsubscribe_path(message: Any) -> str:
    return str(message.extra_headers["List-Unsubscribe"]).strip("<>").split("testserver")[-1]


def test_the_instructions_go_at_once_from_the_organization_via_us_and_open_the_page(
    client: Client, alice: User, acme: Organization, acme_domain: Domain
) -> None:
    acme.support_url = "mailto:help@acme.example"
    acme.save()

    handoff_create(domain=acme_domain, actor=alice, email=f"  {IT} ")
    sent = send_due_emails()

    assert sent == 1
    (message,) = mail.outbox
    assert message.to == [IT]
    assert message.from_email == "Acme via DCVaaS <noreply@dcvaas.localhost>"
    assert message.reply_to == ["help@acme.example"]
    assert message.subject == f"Acme asks you to add a DNS record for {HOSTNAME}"
    assert "Name:  shop.acme" in message.body
    assert "Value: dcv.pcnaid.com" in message.body
    assert message.alternatives[0][1] == "text/html"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page = client.get(link_path(message.body))
    assert page.status_code == 200
    assert HOSTNAME in page.content.decode()
    assert send_due_emails() == 0  # sent once


def test_reminders_come_after_about_one_three_and_six_days_and_stop_once_active(
    alice: User, acme_domain: Domain
) -> None:
    handoff_create(domain=acme_domain, actor=alice, email=IT)
    send_due_emails()
    start = timezone.now()

    with time_machine.travel(start + timedelta(days=1, minutes=1)):
        first = send_due_emails()
    with time_machine.travel(start + timedelta(days=3, minutes=1)):
        third = send_due_emails()
    Domain.objects.filter(pk=acme_domain.pk).update(status=DomainStatus.ACTIVE)
    with time_machine.travel(start + timedelta(days=6, minutes=1)):
        sixth = send_due_emails()

    assert (first, third, sixth) == (1, 1, 0)
    assert [m.subject.startswith("Reminder: ") for m in mail.outbox] == [False, True, True]
    assert HandoffEmail.objects.get(day=6).skipped == "domain_active"


def test_a_revoked_link_sends_no_more_reminders_and_its_emailed_link_is_a_404(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    handoff, _ = handoff_create(domain=acme_domain, actor=alice, email=IT)
    send_due_emails()
    handoff_revoke(handoff=handoff)

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        sent = send_due_emails()

    assert sent == 0
    assert HandoffEmail.objects.get(day=1).skipped == "link_revoked"
    assert client.get(link_path(mail.outbox[0].body)).status_code == 404


def test_a_forged_or_tampered_emailed_link_is_a_404(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    handoff_create(domain=acme_domain, actor=alice, email=IT)
    send_due_emails()
    path = link_path(mail.outbox[0].body)

    tampered = client.get(path[:-3] + ("x" if path[-3] != "x" else "y") + path[-2:])

    assert tampered.status_code == 404


def test_one_click_unsubscribes_the_recipient_from_the_organization_a_look_does_not(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    handoff_create(domain=acme_domain, actor=alice, email=IT)
    send_due_emails()
    path = unsubscribe_path(mail.outbox[0])

    looked = client.get(path)
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        before_click = send_due_emails()
    clicked = client.post(path)  # what a mail client's one-click does
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        after_click = send_due_emails()

    assert looked.status_code == 200
    assert "Stop these emails" in looked.content.decode()
    assert before_click == 1
    assert clicked.status_code == 200
    assert after_click == 0
    assert HandoffEmail.objects.get(day=3).skipped == "unsubscribed"
    with pytest.raises(DomainError) as refused:
        handoff_create(domain=acme_domain, actor=alice, email=IT.upper())
    assert refused.value.code == "unsubscribed"


@pytest.mark.parametrize("email", ["not-an-email", "a@", 42])
def test_a_bad_address_is_refused_with_the_field_named_and_makes_no_link(
    alice: User, acme_domain: Domain, email: object
) -> None:
    with pytest.raises(DomainError) as refused:
        handoff_create(domain=acme_domain, actor=alice, email=email)

    assert (refused.value.code, refused.value.field) == ("invalid_email", "email")
    assert not acme_domain.handoffs.exists()


def test_a_failed_send_is_tried_again_later_not_lost(
    alice: User, acme_domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    handoff_create(domain=acme_domain, actor=alice, email=IT)

    def refuse(*args: object, **kwargs: object) -> int:
        raise smtplib.SMTPServerDisconnected("the mail server went away")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    failed = send_due_emails()
    monkeypatch.undo()
    row = HandoffEmail.objects.get(day=0)
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        retried = send_due_emails()

    assert (failed, row.attempts, row.sent_at) == (0, 1, None)
    assert "went away" in row.last_error
    assert retried == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_at_once_send_each_email_once(alice: User, acme_domain: Domain) -> None:
    for n in range(5):
        handoff_create(domain=acme_domain, actor=alice, email=f"it{n}@customer-of-acme.example")
    start = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            counts.append(send_due_emails())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        f"it{n}@customer-of-acme.example" for n in range(5)
    )


def test_the_domain_page_emails_the_link_and_lists_the_recipient(
    client: Client, alice: User, acme_domain: Domain
) -> None:
    client.force_login(alice)

    response = client.post(f"/domains/{acme_domain.pk}/handoffs/", {"email": IT}, follow=True)
    refused = client.post(
        f"/domains/{acme_domain.pk}/handoffs/", {"email": "nope"}, follow=True
    ).content.decode()
    page = client.get(f"/domains/{acme_domain.pk}/").content.decode()

    assert f"Emailed the instructions to {IT}" in response.content.decode()
    assert "is not an email address" in refused
    assert f'data-testid="handoff-recipient">{IT}</td>' in page
