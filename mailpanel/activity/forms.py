from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from mailpanel.activity.timeline import KINDS

# Bounds that survive the move to UTC and the day added to "to", in any time zone.
EARLIEST = date(1970, 1, 1)
LATEST = date(9999, 12, 30)
# A date input sends year-month-day whatever the browser shows; a typed URL may not.
INVALID_DATE = "Enter a real date as year-month-day, e.g. 2026-03-01."


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class ActivityFilter(forms.Form):
    """The kind and date range of the Activity page, from the query string (GET)."""

    kind = forms.ChoiceField(choices=list(KINDS.items()), required=False, label="Show")
    start = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": INVALID_DATE},
    )
    end = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": INVALID_DATE},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The query string reads ?from=…&to=…, but "from" is a Python keyword and cannot
        # name a class attribute: the fields are declared as start and end, then renamed.
        self.fields = {
            "kind": self.fields["kind"],
            "from": self.fields["start"],
            "to": self.fields["end"],
        }

    def clean_from(self) -> date | None:
        return self._in_range(self.cleaned_data["from"])

    def clean_to(self) -> date | None:
        return self._in_range(self.cleaned_data["to"])

    def _in_range(self, day: date | None) -> date | None:
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationError("Pick a date between 1970 and 9999.")
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            raise ValidationError("“From” is after “To”: pick a From date on or before it.")
        return data

    @property
    def window(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) in the panel's time zone: "to" includes its whole day."""
        start, end = self.cleaned_data.get("from"), self.cleaned_data.get("to")
        return (
            _day_start(start) if start else None,
            _day_start(end + timedelta(days=1)) if end else None,
        )
