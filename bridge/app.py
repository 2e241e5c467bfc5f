"""Wiring: the one place that names concrete adapters."""
from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from adapters.mypos.gateway import MyPosGateway
from adapters.opencart import OpenCartShop
from adapters.prestashop import PrestaShopShop
from adapters.woocommerce import WooCommerceShop
from bridge import logs
from bridge.clock import Clock, SystemClock
from bridge.config import MAX_BODY_BYTES, Settings
from bridge.context import Bridge
from bridge.ports import Registry
from bridge.store.db import Database
from bridge.vault import LinkSigner, Vault

REGISTRY = Registry(shops={shop.platform: shop for shop in (WooCommerceShop, PrestaShopShop, OpenCartShop)},
                    gateway=MyPosGateway)


def build_bridge(settings: Settings | None = None, clock: Clock | None = None) -> Bridge:
    settings = settings or Settings.from_env()
    keys = settings.key_source()  # shared: a rotation of the key file reaches both
    return Bridge(settings=settings, db=Database(settings.database_url), vault=Vault(keys),
                  links=LinkSigner(keys), clock=clock or SystemClock(), registry=REGISTRY)


def create_app(bridge: Bridge | None = None) -> Flask:
    from bridge.web import admin, api, errors, gateway, health, observability, pay, security, webhooks

    bridge = bridge or build_bridge()
    app = Flask(__name__, static_folder="web/static", template_folder="web/templates")
    app.config.update(SECRET_KEY=bridge.settings.secret_key, MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
                      MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES,
                      SESSION_COOKIE_NAME="abonne_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=bridge.settings.public_url.startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=8 * 3600, WTF_CSRF_TIME_LIMIT=8 * 3600)
    app.extensions["abonne"] = bridge
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(gateway.blueprint)
    app.register_blueprint(pay.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(health.blueprint)
    observability.register(app)
    logs.configure_if_unset(bridge.settings.log_format, logging.getLevelName(bridge.settings.log_level))
    errors.register(app)
    security.register(app)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if bridge.settings.trusted_proxies:
        # Only the proxies in front (deploy/nginx.conf) may say who the client is and whether it came over HTTPS;
        # with none configured, a client's own X-Forwarded-* headers are ignored.
        hops = bridge.settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app
