"""`abonne demo` as a newcomer runs it: a real process, its own folder, one customer's year, then it exits."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]


def run_demo(instance: Path, *args: str, timeout: float = 90.0, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ABONNE_")}
    return subprocess.run([sys.executable, "-m", "bridge.cli", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**clean, "ABONNE_INSTANCE_PATH": str(instance), **env})


@pytest.mark.parametrize("platform", ["woocommerce", "prestashop"])
def test_the_demo_walks_one_customer_through_a_year_with_a_decline_and_a_recovery(tmp_path: Path, platform: str):
    owner_database = tmp_path / "owner.db"
    result = run_demo(tmp_path, "--exit", "--fast", "--port", "0", "--password", "demo-password-1",
                      "--platform", platform, ABONNE_DATABASE_URL=f"sqlite:///{owner_database}")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in ("A fresh demo instance in", "abonne is serving http://127.0.0.1:", "The myPOS gateway is set up",
                 "The shop is connected as shop 1", "An admin password is set",
                 "Maria Ivanova orders 'Coffee Club Monthly' in the shop", "created agreement 1 (awaiting card)",
                 "gives her the pay link: http://127.0.0.1:", "pays 19.90 EUR on the myPOS hosted page",
                 "agreement 1 is active", "asks Maria for a new card ahead of time", "month 6 DECLINED",
                 "the card has expired", "asks Maria to update her card: http://127.0.0.1:",
                 "month 6 is paid at once, agreement active again", "month 12 renewed",
                 "13 payments", "1 declined; 12 paid renewal orders in the shop", "24/24"):
        assert step in out, f"{step!r} missing from:\n{out}"
    assert out.count(" renewed: 19.90 EUR charged to the stored card") == 11
    assert "Traceback" not in result.stderr

    assert not owner_database.exists()  # the demo never uses the owner's database
    engine = create_engine(f"sqlite:///{tmp_path / 'demo' / 'abonne.db'}")
    try:
        with engine.connect() as db:
            [agreement] = db.execute(text("SELECT id, state, cycles_paid, card_last4 FROM agreements")).mappings()
            charges = list(db.execute(text("SELECT cycle, source, state, decline FROM charges ORDER BY id")).mappings())
            card_updates = db.execute(text("SELECT count(*) FROM card_updates WHERE state = 'done'")).scalar()
            has_password = db.execute(text("SELECT count(*) FROM admin_settings WHERE key = 'password_hash'")).scalar()
    finally:
        engine.dispose()
    assert (agreement["state"], agreement["cycles_paid"], agreement["card_last4"]) == ("active", 13, "0004")
    assert [(c["cycle"], c["state"], c["decline"]) for c in charges if c["state"] != "succeeded"] == [
        (7, "declined", "hard")]
    succeeded = [c for c in charges if c["state"] == "succeeded"]
    assert sorted(c["cycle"] for c in succeeded) == list(range(1, 14))  # every cycle paid exactly once
    assert [(c["cycle"], c["source"]) for c in succeeded if c["source"] != "stored_card"] == [
        (1, "hosted_page"), (7, "hosted_page")]  # the sign-up, and the declined month paid with the new card
    assert card_updates == 1 and has_password == 1


def test_the_demo_says_plainly_when_its_port_is_taken(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_demo(tmp_path, "--exit", "--fast", "--port", str(port), timeout=30.0)
    assert result.returncode == 1
    assert f"abonne cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
