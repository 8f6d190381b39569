from __future__ import annotations

from django import forms

from domains.models import WebhookEventType

EVENT_CHOICES = [(t.value, t.label) for t in WebhookEventType if t != WebhookEventType.TEST]


class EndpointForm(forms.Form):
    url = forms.CharField(
        max_length=2000,
        label="Endpoint URL",
        help_text="Where your app receives webhooks, like https://app.example/hooks/dcvaas.",
        error_messages={"required": "Enter the URL your app receives webhooks at."},
    )
    description = forms.CharField(max_length=200, required=False, label="Description")
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text="None ticked: every event.",
    )
