"""GET /pay/<token>: the customer's signed link to the gateway's hosted payment page."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, g, render_template

from bridge.context import NotConfigured
from bridge.ports import GatewayConfigError, HostedForm
from bridge.services.card_update import card_form
from bridge.services.tokenize import PayLinkError, pay_form
from bridge.web import current_bridge

blueprint = Blueprint("pay", __name__)


def customer_page(title: str, message: str, status: int = 200, form=None):
    return render_template("customer.html", title=title, message=message, form=form), status


@blueprint.get("/pay/<token>")
def pay(token: str):
    try:
        form = pay_form(current_bridge(), token)
    except PayLinkError as error:
        return customer_page("This link cannot be used", error.detail[0].upper() + error.detail[1:] + ".",
                             error.status)
    except (NotConfigured, GatewayConfigError):
        return customer_page("Payments are not available right now",
                             "The shop's payment settings are incomplete. Please try again later or contact the "
                             "shop.", 503)
    return _to_gateway(form, "You are being sent to myPOS to pay and save your card for the subscription.")


@blueprint.get("/card/<token>")
def card(token: str):
    try:
        form = card_form(current_bridge(), token)
    except PayLinkError as error:
        return customer_page("This link cannot be used", error.detail[0].upper() + error.detail[1:] + ".",
                             error.status)
    except (NotConfigured, GatewayConfigError):
        return customer_page("Card updates are not available right now",
                             "The shop's payment settings are incomplete. Please try again later or contact the "
                             "shop.", 503)
    return _to_gateway(form, "You are being sent to myPOS to save the card for your subscription.")


def _to_gateway(form: HostedForm, message: str):
    action = urlsplit(form.action)
    g.form_action_origins = [f"{action.scheme}://{action.netloc}"]  # the CSP must let the form post there
    return customer_page("Redirecting to the secure payment page", message, form=form)
