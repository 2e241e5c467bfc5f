"""Everything a use case needs from the running process, built once by bridge/app.py."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bridge.clock import Clock
from bridge.config import Settings
from bridge.metrics import timed_gateway, timed_shop
from bridge.ports import PaymentGateway, Registry, ShopAdapter
from bridge.store.db import Database, UnitOfWork
from bridge.store.tables import GatewayAccount, Shop
from bridge.vault import LinkSigner, Vault


class NotConfigured(Exception):
    """Something the owner must set up first; the message says what and how."""


@dataclass
class Bridge:
    settings: Settings
    db: Database
    vault: Vault
    links: LinkSigner
    clock: Clock
    registry: Registry
    wake_worker: threading.Event = field(default_factory=threading.Event)

    def uow(self) -> UnitOfWork:
        return self.db.uow()

    def shop_adapter(self, shop: Shop) -> ShopAdapter:
        adapter_cls: Any = self.registry.shops.get(shop.platform)
        if adapter_cls is None:
            raise NotConfigured(f"shop {shop.id} uses platform {shop.platform!r}, which this abonne does not know")
        return timed_shop(shop.platform, adapter_cls(shop.settings, self.vault.decrypt_json(shop.secrets_encrypted),
                                                     clock=self.clock.now))

    def current_gateway(self) -> PaymentGateway:
        """The gateway as the owner configured it. Raises NotConfigured before `abonne gateway set`."""
        with self.uow() as uow:
            account = uow.session.get(GatewayAccount, 1)
        return self.gateway(account)

    def gateway(self, account: GatewayAccount | None) -> PaymentGateway:
        if account is None:
            raise NotConfigured("the myPOS gateway is not set up yet: run `abonne gateway set` (see README)")
        gateway_cls: Any = self.registry.gateway
        return timed_gateway(gateway_cls(**account.settings, **self.vault.decrypt_json(account.secrets_encrypted),
                                         timeout=self.settings.gateway_timeout_seconds))

    def public_url(self, path: str) -> str:
        return f"{self.settings.public_url}{path}"
