from __future__ import annotations

from django import forms


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="Say where it will be used, like “CI deploys” or “billing service”.",
        error_messages={"required": "Give the token a name so you can recognise it later."},
    )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the token a name so you can recognise it later.")
        return name
