from __future__ import annotations

from typing import Any

from django import forms

from accounts.audit import ACTIONS
from accounts.models import Organization, TokenScope

# How long a new token works: days, or "" for until it is revoked.
EXPIRY_CHOICES = [("", "Until revoked"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="Say where it will be used, like “CI deploys” or “billing service”.",
        error_messages={"required": "Give the token a name so you can recognise it later."},
    )

    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.WRITE,
        required=False,  # not sent: a write token, as before scopes
        label="Scope",
        error_messages={"invalid_choice": "Choose read or write."},
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        label="Expires",
        error_messages={"invalid_choice": "Choose when the token stops working."},
    )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name so you can recognise it later.")
        return name

    def clean_scope(self) -> str:
        return str(self.cleaned_data.get("scope") or TokenScope.WRITE)


class OrganizationSettingsForm(forms.ModelForm[Organization]):
    """The organization's display name and the branding its customers' DNS owners see."""

    class Meta:
        model = Organization
        fields = ["name", "brand_logo_url", "brand_accent", "support_url"]
        labels = {"name": "Display name"}
        help_texts = {"name": "Shown to the people you send DNS instructions to."}
        error_messages = {"name": {"required": "Give the organization a name."}}

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the organization a name.")
        return name

    def clean_brand_accent(self) -> str:
        accent: str = self.cleaned_data["brand_accent"].strip()
        return accent.lower()


class OrganizationDeleteForm(forms.Form):
    """Deleting an organization asks for its name, typed: a click alone never deletes."""

    confirm_name = forms.CharField(
        max_length=100,
        required=False,
        label="Type the organization's name to confirm",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_confirm_name(self) -> str:
        typed: str = self.cleaned_data.get("confirm_name", "").strip()
        if typed != self.organization.name:
            raise forms.ValidationError(
                f"Type the organization's name, “{self.organization.name}”, exactly as shown "
                "to delete it."
            )
        return typed


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who")
    action = forms.ChoiceField(required=False, label="What")
    since = forms.DateField(
        required=False, label="From", error_messages={"invalid": "Give a date as YYYY-MM-DD."}
    )
    until = forms.DateField(
        required=False, label="To", error_messages={"invalid": "Give a date as YYYY-MM-DD."}
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *ACTIONS.items()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return data
