"""The admin JSON API at /api/v1/ (bearer tokens). Its routes and its OpenAPI document come from one declaration
per operation (routing.py, views.py)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.context import NotConfigured
from bridge.ports import GatewayConfigError, ShopError
from bridge.services.admin_auth import AuthError
from bridge.services.lifecycle import LifecycleError
from bridge.services.operations import OperationError
from bridge.services.setup import SetupError
from bridge.vault import VaultError
from bridge.web import current_bridge
from bridge.web.api import auth, openapi, views  # noqa: F401  (views declares the operations)
from bridge.web.api.routing import OPERATIONS, ApiError

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

for _op in OPERATIONS:
    blueprint.add_url_rule(_op.rule, endpoint=_op.endpoint, view_func=_op, methods=[_op.method])


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.build(current_bridge()))


@blueprint.before_request
def authenticate() -> None:
    if request.endpoint != "api.openapi_document":
        auth.require_token()


# Domain errors carry a message that is safe to show and says what to do.
_DOMAIN_ERRORS: list[tuple[type[Exception], int, str]] = [
    (SetupError, 422, "setup_refused"),
    (GatewayConfigError, 422, "gateway_settings_unusable"),
    (AuthError, 422, "auth_refused"),
    (LifecycleError, 409, "action_refused"),
    (OperationError, 409, "operation_refused"),
    (NotConfigured, 409, "not_configured"),
    (VaultError, 409, "secrets_unreadable"),
]


@blueprint.errorhandler(ApiError)
def api_error(error: ApiError) -> Response:
    return error.response()


@blueprint.errorhandler(ShopError)
def shop_error(error: ShopError) -> Response:
    return ApiError(502, "shop_error", f"the shop's API did not do it: {error.detail}").response()


def _domain_handler(status: int, code: str):
    def handle(error: Exception) -> Response:
        return ApiError(status, code, str(error)).response()
    return handle


for _error, _status, _code in _DOMAIN_ERRORS:
    blueprint.register_error_handler(_error, _domain_handler(_status, _code))
