"""A customer's browser on the myPOS stand-in, over HTTP only: submit the shop's auto-form, fill in the payment
page, and follow the auto-submitting form back to the shop (what the page's onload script would do)."""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

from bridge.ports import HostedForm

TIMEOUT = 30.0


def customer_pays(form: HostedForm, card: str, exp: str, cvc: str = "000",
                  browser: requests.Session | None = None) -> requests.Response:
    """Open the hosted page with the shop's form and press Pay. Returns the stand-in's answer: on success an
    auto-submitting form to URL_OK (see submit_auto_form), otherwise a page saying what went wrong."""
    browser = browser or requests.Session()
    page = open_payment_page(form, browser)
    return _press(page, browser, {"card_number": card, "expiry": exp, "cvc": cvc, "action": "pay"})


def customer_cancels(form: HostedForm, browser: requests.Session | None = None) -> requests.Response:
    """Open the hosted page and press Cancel. Returns the auto-submitting form to URL_Cancel."""
    browser = browser or requests.Session()
    page = open_payment_page(form, browser)
    return _press(page, browser, {"action": "cancel"})


def open_payment_page(form: HostedForm, browser: requests.Session) -> requests.Response:
    return browser.post(form.action, data=list(form.fields), timeout=TIMEOUT)


def submit_auto_form(page: requests.Response, browser: requests.Session | None = None) -> requests.Response:
    """POST the page's first form with its hidden fields in document order, as the browser's onload would."""
    action, fields = read_form(page.text)
    return (browser or requests.Session()).post(urljoin(page.url, action), data=fields, timeout=TIMEOUT)


def read_form(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The first form of a page: its action and its named input fields, in document order."""
    parser = _FirstForm()
    parser.feed(html)
    if parser.action is None:
        raise ValueError("the page has no form")
    return parser.action, parser.fields


def _press(page: requests.Response, browser: requests.Session, values: dict[str, str]) -> requests.Response:
    action, _ = read_form(page.text)
    return browser.post(urljoin(page.url, action), data=values, timeout=TIMEOUT)


class _FirstForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.fields: list[tuple[str, str]] = []
        self._inside = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self._done and self.action is None:
            self.action = attributes.get("action", "")
            self._inside = True
        elif tag == "input" and self._inside and attributes.get("name"):
            self.fields.append((attributes["name"], attributes.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._inside:
            self._inside = False
            self._done = True
