"""One declaration per operation: its route, the schemas that parse its path, query and body and dump its answer,
and the error statuses it can give. The blueprint's routes and the OpenAPI document are both built from it."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from flask import Response, jsonify, request
from marshmallow import Schema, ValidationError

from bridge.context import Bridge
from bridge.web import current_bridge

BodySchema = Callable[[Bridge, Any], Schema]  # (bridge, parsed JSON) -> the schema that loads it


class ApiError(Exception):
    """An answer other than success, as JSON {"error": code, "detail": ...}."""

    def __init__(self, status: int, code: str, detail: str, fields: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.fields, self.headers = status, code, detail, fields, headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.fields is not None:
            body["fields"] = self.fields
        answer = jsonify(body)
        answer.status_code = self.status
        answer.headers.update(self.headers)
        return answer


def invalid_input(messages: Any) -> ApiError:
    named = _flatten(messages)
    summary = "; ".join(f"{name}: {' '.join(problems)}" for name, problems in named.items())
    return ApiError(422, "invalid_input", summary or "the input is not valid", named)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"settings.url": ["..."]}; errors about the whole body under "body"."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = "body" if key == "_schema" and not prefix else f"{prefix}{key}"
            flat.update(_flatten(value, f"{name}."))
        return flat
    name = prefix.rstrip(".") or "body"
    return {name: [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]}


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str  # Flask's, e.g. /agreements/<int:agreement_id>
    view: Callable[..., Any]
    summary: str
    tag: str
    response: type[Schema]
    status: int = 200
    path: type[Schema] | None = None
    query: type[Schema] | None = None
    body: BodySchema | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()  # besides the ones every operation of its kind can give
    description: str = ""
    body_document: Callable[[Bridge], Any] | None = None  # the request body's schema for the document

    @property
    def scope(self) -> str:
        return "read" if self.method == "GET" else "write"

    @property
    def endpoint(self) -> str:
        return self.view.__name__

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)

    def statuses(self) -> list[int]:
        """Every status this operation answers with besides success (its document lists exactly these)."""
        codes = {401, 403, *self.errors}
        if self.path:
            codes.add(404)
        if self.query or self.body:
            codes.add(422)
        if self.body:
            codes.add(400)
        return sorted(codes)

    def __call__(self, **view_args: Any) -> Response:
        bridge = current_bridge()
        arguments: dict[str, Any] = {}
        if self.path:
            try:
                arguments.update(self.path().load(view_args))
            except ValidationError:
                value = next(iter(view_args.values()), "")
                raise ApiError(404, "not_found", f"there is no {self.path.noun} {value}") from None  # type: ignore
        try:
            if self.query:
                arguments["query"] = self.query().load(request.args.to_dict())
            if self.body:
                payload = _json_body(self.body_required)
                arguments["body"] = self.body(bridge, payload).load(payload if payload is not None else {})
        except ValidationError as error:
            raise invalid_input(error.messages) from None
        answer = jsonify(self.response().dump(self.view(bridge, **arguments)))
        answer.status_code = self.status
        return answer


def _json_body(required: bool) -> Any:
    """The JSON body whatever its Content-Type says; None when there is none."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ValidationError({"_schema": ["a JSON object is required"]})
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON (UTF-8)") from None


OPERATIONS: list[Operation] = []


def operation(method: str, rule: str, *, summary: str, tag: str, response: type[Schema],
              **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view as an API operation; its first argument is the Bridge, then path values, `query`, `body`."""
    def declare(view: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS.append(Operation(method, rule, view, summary, tag, response, **options))
        return view
    return declare
