"""The subscriptions: a searchable list, one subscription's page, and the owner's actions (each confirmed first)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone

from flask import abort, flash, redirect, render_template, request, url_for

from bridge.domain.agreement import AgreementState
from bridge.services import admin_views, agreements, lifecycle, setup
from bridge.services.lifecycle import LifecycleError
from bridge.web import current_bridge
from bridge.web.admin import blueprint

PER_PAGE = 25


@dataclass(frozen=True)
class Action:
    key: str
    label: str  # the button
    question: str  # the confirmation page asks this
    consequence: str
    danger: bool = False


ACTIONS = {a.key: a for a in (
    Action("pause", "Pause", "Pause this subscription?",
           "Nothing is charged while it is paused. You can resume it at any time."),
    Action("resume", "Resume", "Resume this subscription?",
           "Charging starts again; a cycle that fell due while paused is charged on the next pass."),
    Action("skip_next", "Skip next payment", "Skip the next payment?",
           "The next cycle moves one billing period later; later payments follow from there."),
    Action("set_next_date", "Change next payment date", "Move the next payment to another date?",
           "The next payment is taken on the date you choose; later payments follow from it."),
    Action("charge_now", "Charge now", "Charge the next cycle now?",
           "The stored card is charged for the next cycle within a few seconds.", danger=True),
    Action("resend_card_link", "Send card-update link", "Send the customer a new card-update link?",
           "The shop adds a note to the customer's order with a link to give a new card, and e-mails it."),
    Action("cancel_at_period_end", "Cancel at period end", "Cancel when the paid period ends?",
           "Nothing more is charged; the subscription ends on its next due date.", danger=True),
    Action("cancel", "Cancel now", "Cancel this subscription now?",
           "It ends at once and nothing more is charged. This cannot be undone.", danger=True),
)}


@blueprint.get("/subscriptions")
def subscriptions():
    bridge = current_bridge()
    args = request.args
    shop_id = args.get("shop", type=int)
    page = agreements.search_agreements(bridge, text=args.get("q", ""), state=args.get("state") or None,
                                        shop_id=shop_id, plan=args.get("plan") or None,
                                        page=args.get("page", 1, type=int), per_page=PER_PAGE)
    shops = setup.list_shops(bridge)
    query = {k: v for k, v in args.items() if k != "page" and v}
    return render_template("admin/subscriptions.html", page=page, shops=shops,
                           shop_names={s.id: s.name for s in shops}, links=admin_views.order_links(bridge, shops),
                           plans=[plan.name for plan, _ in setup.list_plans(bridge)],
                           states=[s.value for s in AgreementState], args=args, query=query)


def _agreement_or_404(agreement_id: int) -> dict:
    shown = agreements.show_agreement(current_bridge(), agreement_id)
    if shown is None:
        abort(404, f"there is no subscription {agreement_id}")
    return shown


@blueprint.get("/subscriptions/<int:agreement_id>")
def subscription(agreement_id: int):
    bridge = current_bridge()
    shown = _agreement_or_404(agreement_id)
    shop = setup.get_shop(bridge, shown["shop_id"])
    link = admin_views.order_links(bridge, [shop]).get(shop.id)
    return render_template("admin/subscription.html", a=shown, shop=shop, link=link,
                           events=list(reversed(shown["events"])),
                           next_step=admin_views.what_happens_next(bridge, agreement_id),
                           actions=[ACTIONS[k] for k in admin_views.ACTIONS_BY_STATE.get(shown["state"], ())])


@blueprint.get("/subscriptions/<int:agreement_id>/<action>")
def confirm(agreement_id: int, action: str):
    if action not in ACTIONS:
        abort(404, f"there is no action {action!r}")
    shown = _agreement_or_404(agreement_id)
    return render_template("admin/confirm.html", a=shown, action=ACTIONS[action])


def _date(agreement_id: int, text: str) -> datetime:
    """The date and time typed in the form, in UTC; a bare date keeps the time of day of the current schedule."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LifecycleError(f"the new date must look like 2027-03-15 or 2027-03-15T09:00, got {text!r}") from None
    if len(text.strip()) == 10:
        current = _agreement_or_404(agreement_id)["next_charge_at"]
        moment = datetime.combine(moment.date(), datetime.fromisoformat(current).time() if current else time(9))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@blueprint.post("/subscriptions/<int:agreement_id>/<action>")
def act(agreement_id: int, action: str):
    bridge = current_bridge()
    steps = {
        "pause": lambda: lifecycle.pause(bridge, agreement_id),
        "resume": lambda: lifecycle.resume(bridge, agreement_id),
        "skip_next": lambda: lifecycle.skip_next(bridge, agreement_id),
        "set_next_date": lambda: lifecycle.set_next_date(bridge, agreement_id,
                                                            _date(agreement_id, request.form.get("when", ""))),
        "charge_now": lambda: lifecycle.charge_now(bridge, agreement_id),
        "resend_card_link": lambda: lifecycle.resend_card_link(bridge, agreement_id),
        "cancel_at_period_end": lambda: lifecycle.cancel(bridge, agreement_id, at_period_end=True),
        "cancel": lambda: lifecycle.cancel(bridge, agreement_id),
    }
    if action not in steps:
        abort(404, f"there is no action {action!r}")
    try:
        flash(f"{ACTIONS[action].label}: done. Subscription {agreement_id}: {steps[action]()}.", "ok")
    except LifecycleError as error:
        flash(f"{ACTIONS[action].label} was not done: {error}.", "error")
    return redirect(url_for("admin.subscription", agreement_id=agreement_id))
