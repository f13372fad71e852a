"""Form handling shared by the pages: validation with the services' own schemas.

A failed submit re-renders the same page with the values the person typed and a
translated message under each field, so nothing typed is lost.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from ..errors import FulianError


class Form:
    """Values and field errors of one submitted (or blank) form."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.errors: dict[str, list[str]] = {}
        self.message: str | None = None

    @classmethod
    def submitted(cls, lists: tuple[str, ...] = ()) -> Form:
        """The posted form; fields in ``lists`` keep every value (checkboxes)."""
        data: MultiDict = request.form
        values: dict[str, Any] = {}
        for key in data:
            if key == "csrf_token":
                continue
            values[key] = data.getlist(key) if key in lists else data.get(key, "").strip()
        for key in lists:
            values.setdefault(key, [])
        return cls(values)

    def get(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def fail(self, exc: FulianError) -> Form:
        """Record a refusal from a service: its message and per-field messages."""
        self.message = str(exc.message)
        for field, messages in (exc.field_errors or {}).items():
            # nested messages (e.g. per interval of a list) are shown under the field
            self.errors[str(field)] = [str(m) for m in _flat(messages)]
        return self

    @property
    def ok(self) -> bool:
        return not self.errors and self.message is None


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _flat(v)]
    if isinstance(value, list):
        return [m for v in value for m in _flat(v)]
    return [value]


def optional_int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None
