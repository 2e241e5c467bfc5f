"""Log lines: one JSON object each, ids attached, credentials scrubbed; bad log settings named."""
from __future__ import annotations

import io
import json
import logging

import pytest

from bridge import logs
from bridge.config import ConfigError, Settings


def lines_of(emit) -> list[dict]:
    stream = io.StringIO()
    logger = logging.getLogger("abonne.test.logs")
    handler = logs.handler("json", stream)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_carries_the_bound_ids_and_a_call_may_name_its_own():
    def emit(logger: logging.Logger) -> None:
        with logs.bound(request_id="r-1", shop_id=4):
            logger.info("one", extra={"agreement_id": 9})
            logger.info("two", extra={"shop_id": 5})
        logger.info("three")
    one, two, three = lines_of(emit)
    assert (one["request_id"], one["shop_id"], one["agreement_id"]) == ("r-1", 4, 9)
    assert two["shop_id"] == 5
    assert "request_id" not in three and "shop_id" not in three  # unbound once the work is done
    assert list(one)[:4] == ["time", "level", "logger", "message"]


@pytest.mark.parametrize("said, secret", [
    ("GET /api/orders?output_format=JSON&ws_key=KEY32CHARACTERSLONGXXXXXXXXXXXXX HTTP/1.1", "KEY32CHARACTERS"),
    ("connecting to postgresql://abonne:s3cr3t-pw@db.internal/abonne", "s3cr3t-pw"),
    ("sent Authorization: Bearer abn_XYZ123secret", "abn_XYZ123secret"),
    ("GET /card/eyJhIjoxLCJpYXQiOjE3OTV9.Zm9vYmFyYmF6cXV4 HTTP/1.1", "eyJhIjoxLCJpYXQiOjE3OTV9"),
    ("POST /wp-json/wc/v3/orders?oauth_consumer_key=ck_123&oauth_signature=abc%3D", "ck_123"),
])
def test_credentials_in_a_message_or_a_traceback_are_scrubbed(said: str, secret: str):
    def emit(logger: logging.Logger) -> None:
        logger.warning("the library said %s", said)
        try:
            raise ConnectionError(f"Max retries exceeded: {said}")
        except ConnectionError:
            logger.exception("a call failed")
    message, failure = lines_of(emit)
    assert secret not in json.dumps(message) and "[redacted]" in message["message"]
    assert secret not in json.dumps(failure) and "[redacted]" in failure["traceback"]


@pytest.mark.parametrize("name, value", [("ABONNE_LOG_FORMAT", "xml"), ("ABONNE_LOG_LEVEL", "LOUD")])
def test_a_bad_log_setting_is_named(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"ABONNE_SECRET_KEY": "k" * 40, name: value})
