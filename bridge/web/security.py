"""Response headers every page and answer carries."""
from __future__ import annotations

from flask import Flask, Response, g


def register(app: Flask) -> None:
    @app.after_request
    def headers(response: Response) -> Response:
        form_action = " ".join(["'self'", *getattr(g, "form_action_origins", [])])
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; script-src 'self'; "
                                    f"style-src 'self'; frame-ancestors 'none'; form-action {form_action}; "
                                    "base-uri 'none'")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response
