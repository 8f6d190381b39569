from __future__ import annotations

from django import forms

CHOOSE_ORIGIN = "Choose one of your origins."


class DomainForm(forms.Form):
    hostname = forms.CharField(
        max_length=300,
        label="Customer hostname",
        help_text="The address your customer's users will type, like app.client.com.",
        error_messages={
            "required": "Enter the hostname your customer will use, like app.client.com."
        },
        # The limit holds for what was typed: the hostname parser trims spaces, never to make
        # a longer input fit.
        strip=False,
    )
    # An origin's id; empty: the organization's default origin.
    origin = forms.UUIDField(
        required=False, error_messages={"invalid": "Choose one of the origins."}
    )


class DomainOriginForm(forms.Form):
    origin = forms.UUIDField(
        required=False, error_messages={"invalid": "Choose one of the origins."}
    )
