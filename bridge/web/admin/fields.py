"""Settings forms drawn from what an adapter declares (SettingField), so a new platform needs no template.

A field whose name ends in `_pem` holds a key or certificate file: it is offered as an upload (or pasted text).
Secrets and files are never sent back to the browser: the form says whether one is saved, and a blank keeps it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from flask import Request

from bridge.ports import SettingField
from bridge.services.setup import SetupError


@dataclass(frozen=True)
class FieldView:
    name: str
    label: str
    help: str
    kind: str  # text | url | secret | file | choice
    required: bool
    value: str  # only for fields that are neither secret nor files
    is_set: bool  # secret or file: whether one is saved
    keep_when_blank: bool
    choices: tuple[str, ...]
    suggestions: tuple[str, ...]


def is_file(field: SettingField) -> bool:
    return field.name.endswith("_pem")


def kind_of(field: SettingField) -> str:
    if is_file(field):
        return "file"
    if field.secret:
        return "secret"
    if field.choices:
        return "choice"
    return "url" if field.url else "text"


def field_views(fields: Iterable[SettingField], values: Mapping[str, Any] | None = None,
                saved: Mapping[str, bool] | None = None) -> list[FieldView]:
    """`values`: non-secret values to show; `saved`: for secrets and files, whether one is stored."""
    values, saved = values or {}, saved or {}
    views = []
    for field in fields:
        kind = kind_of(field)
        hidden = kind in ("secret", "file")
        is_set = bool(saved.get(field.name))
        views.append(FieldView(field.name, field.label, field.help, kind, field.required,
                               "" if hidden else str(values.get(field.name) or ""), is_set, hidden and is_set,
                               tuple(field.choices), tuple(field.suggestions)))
    return views


def submitted(fields: Iterable[SettingField], request: Request) -> dict[str, str]:
    """The values typed or uploaded; a file upload wins over pasted text."""
    values = {}
    for field in fields:
        value = request.form.get(field.name, "")
        if is_file(field):
            upload = request.files.get(f"{field.name}__file")
            if upload is not None and upload.filename:
                try:
                    value = upload.read().decode("utf-8")
                except UnicodeDecodeError:
                    raise SetupError(f"{field.label}: the file {upload.filename!r} is not a text (PEM) file") from None
        values[field.name] = value
    return values


def keep_when_blank(fields: Iterable[SettingField]) -> list[str]:
    return [field.name for field in fields if field.secret or is_file(field)]
