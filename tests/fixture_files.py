"""The captured real traffic under tests/fixtures, copied from ../shared/fixtures so tests run anywhere."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
WOO = FIXTURES / "woocommerce-10.0.2"
MYPOS = FIXTURES / "mypos"
WOO_SECRET = "bridge-secret-7f3a9c"
WOO_QUIRK_SECRET_AS_STORED = 'q&amp;x"y<z>'  # webhook 3 of the first capture, as WordPress stored it
WOO_QUIRK_SECRET_AS_TYPED = 'q&x"y<z>'


@dataclass(frozen=True)
class CapturedDelivery:
    name: str
    headers: list[tuple[str, str]]
    body: bytes
    secret: str

    @property
    def header_map(self) -> dict[str, str]:
        return dict(self.headers)

    @property
    def topic(self) -> str | None:
        return self.header_map.get("X-WC-Webhook-Topic")


def woo_deliveries(folder: Path = WOO / "webhooks") -> list[CapturedDelivery]:
    found = []
    for meta_path in sorted(folder.glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        headers = [tuple(h) for h in meta["headers"]]
        body = meta_path.with_name(meta_path.name.replace(".meta.json", ".body")).read_bytes()
        first_capture_webhook_3 = folder == WOO / "webhooks" and dict(headers).get("X-WC-Webhook-ID") == "3"
        found.append(CapturedDelivery(meta_path.name.removesuffix(".meta.json"), headers, body,
                                      WOO_QUIRK_SECRET_AS_STORED if first_capture_webhook_3 else WOO_SECRET))
    return found


def woo_delivery(name: str, folder: Path = WOO / "webhooks") -> CapturedDelivery:
    return next(d for d in woo_deliveries(folder) if d.name == name)
