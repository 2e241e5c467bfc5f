"""The yardstick for webhook intake: a bare Flask endpoint at the same path that reads the body and answers 200,
served by gunicorn with abonne's own settings (bench/intake_vs_bare.py). No signature check, no database."""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/<platform>/<int:shop_id>")
def receive(platform: str, shop_id: int):
    request.get_data(cache=False)
    return jsonify(ok=True), 200
