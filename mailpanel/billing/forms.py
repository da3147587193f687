"""The billing contact and the plan chosen: checked before anything reaches the processor."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from mailpanel.billing.plans import paid_plans

COUNTRY = re.compile(r"[A-Z]{2}")
# An EU VAT number: two letters and 2-12 letters, digits or + * (checked in form only; the
# processor and the tax office check the rest).
VAT_ID = re.compile(r"[A-Z]{2}[0-9A-Z+*]{2,12}")


class SubscribeForm(forms.Form):
    plan = forms.ChoiceField(choices=())
    name = forms.CharField(max_length=200, label="Name on invoices")
    email = forms.EmailField(max_length=254, label="Billing email")
    company = forms.CharField(max_length=200, required=False)
    country = forms.CharField(max_length=2, help_text="Two letters, e.g. DE, FR, US.")
    vat_id = forms.CharField(max_length=20, required=False, label="VAT id (if any)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice = self.fields["plan"]
        assert isinstance(choice, forms.ChoiceField)
        choice.choices = [(p.key, f"{p.name} ({p.amount})") for p in paid_plans()]

    def clean_name(self) -> str:
        return _one_line(self.cleaned_data["name"], "name")

    def clean_company(self) -> str:
        return _one_line(self.cleaned_data.get("company", ""), "company")

    def clean_country(self) -> str:
        country = str(self.cleaned_data["country"]).strip().upper()
        if not COUNTRY.fullmatch(country):
            raise forms.ValidationError("Give the country as its two-letter code, e.g. DE.")
        return country

    def clean_vat_id(self) -> str:
        vat = re.sub(r"[\s.-]", "", str(self.cleaned_data.get("vat_id", ""))).upper()
        if vat and not VAT_ID.fullmatch(vat):
            raise forms.ValidationError("A VAT id is its country's two letters and 2-12 more.")
        return vat


def _one_line(value: str, field: str) -> str:
    text = " ".join(str(value).split())
    if any(ord(c) < 32 for c in str(value).replace("\n", "").replace("\t", "")):
        raise forms.ValidationError(f"The {field} may not hold control characters.")
    return text
