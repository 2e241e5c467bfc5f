"""Every error is JSON that names the problem (HTML for the customer's pages); never a stack trace."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def json_error(status: int, code: str, detail: str):
    response = jsonify(error=code, detail=detail)
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        detail = error.description or error.name
        if error.code == 413:
            detail = f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        response = json_error(error.code or 500, code, detail)
        # Keep what the status needs besides the body: Allow on a 405, WWW-Authenticate on a 401, Retry-After.
        response.headers.update({k: v for k, v in error.get_headers() if k.lower() != "content-type"})
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal_error", "abonne could not handle this request; the error is logged")
