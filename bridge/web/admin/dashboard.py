"""The dashboard: the first-run checklist until setup is done, then the figures that matter, with charts."""
from __future__ import annotations

from flask import render_template

from bridge.services import admin_views, dashboard as figures
from bridge.web import current_bridge
from bridge.web.admin import blueprint
from bridge.web.admin.charts import columns, rows


@blueprint.get("/")
def dashboard():
    bridge = current_bridge()
    steps = admin_views.setup_steps(bridge)
    board = figures.build(bridge)
    charged = columns([(f"{day:%d %b}", count) for day, count in board.charged_per_day])
    states = rows([("active", board.active), ("past due", board.past_due), ("suspended", board.suspended),
                   ("awaiting card", board.awaiting_card)])
    return render_template("admin/dashboard.html", steps=steps,
                           setup_done=all(step.done for step in steps if not step.optional),
                           board=board, charged=charged, states=states)
