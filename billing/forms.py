from __future__ import annotations

from django import forms

from billing.plans import paid_plans


class CheckoutForm(forms.Form):
    plan = forms.ChoiceField(choices=())
    # Rendered into the page: submitting the same form twice reuses one Checkout Session.
    request_key = forms.RegexField(regex=r"^[A-Za-z0-9-]{8,64}$")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["plan"].choices = [(plan.key, plan.name) for plan in paid_plans()]  # type: ignore[attr-defined]
