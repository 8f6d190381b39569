from __future__ import annotations

from django import forms


class OriginForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        error_messages={"required": "Give the origin a name, like “Production”."},
    )
    address = forms.CharField(
        max_length=300,
        label="Address",
        help_text="Your app's hostname (myapp.fly.dev) or public IP address.",
        error_messages={
            "required": "Enter your app's hostname (like myapp.fly.dev) or its public IP address."
        },
    )
    is_default = forms.BooleanField(required=False, label="Make it the default origin")
