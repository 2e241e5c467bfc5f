"""Schemathesis against /api/v1/openapi.json on the live server: for every operation, generated valid and invalid
requests never get a 5xx, and every answer is one the document promises (status, content type, body schema).

Bounded: a few examples per operation and mode. Generated URLs are pointed at a closed loopback port, so no
request ever leaves the machine even when generated settings are valid.
"""
from __future__ import annotations

import random
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from tests.integration.conftest import Configured
from tests.integration.test_admin_api import token

EXAMPLES = 10
CLOSED_PORT = "http://127.0.0.1:9/"
CHECK_NAMES = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
               "ignored_auth", "unsupported_method"]
# Saving a shop with check off leaves one whose URL answers nothing: run it after the operations on stored shops.
LAST = ("POST /shops",)


def _no_outside_urls(case: Any) -> None:
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("endpoint"), str):
            body["endpoint"] = CLOSED_PORT
        if isinstance(body.get("settings"), dict) and isinstance(body["settings"].get("url"), str):
            body["settings"]["url"] = CLOSED_PORT


@pytest.mark.filterwarnings("ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning")
def test_generated_requests_get_documented_answers_and_never_a_server_error(configured: Configured):
    configured.subscribe([(configured.subscription_product, 1)])  # so some generated ids hit a real agreement
    abonne = configured.abonne
    schema = schemathesis.openapi.from_url(abonne.url + "/api/v1/openapi.json")
    base_url = abonne.url + "/api/v1"
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token(abonne, 'read', 'write')}"}
    checks = [check for check in CHECKS.get_all() if check.__name__ in CHECK_NAMES]
    assert len(checks) == len(CHECK_NAMES)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: (op.label in LAST, op.label))
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                # Hypothesis seeds the process-wide `random` for each example, and the server runs in this
                # process: the WooCommerce client draws its OAuth nonces from it, so replayed seeds would replay
                # nonces, which the shop rightly refuses. Hypothesis restores its own state afterwards.
                random.seed()
                _no_outside_urls(case)
                # A negative case may leave out the required Authorization header on purpose: adding the token
                # back would send a valid request and make schemathesis take its 200 for accepted bad data.
                sent = headers if mode is GenerationMode.POSITIVE or "Authorization" in (case.headers or {}) else {}
                case.call_and_validate(base_url=base_url, session=session, headers=sent, checks=checks)
            try:
                run()
            except Exception as error:  # one line per failing operation, then all of them at once
                failures.append(f"{operation.label} ({mode.value}): {str(error)[:1500]}")
    assert not failures, "\n\n".join(failures)
