"""Reports: what reviews teach (how precise each rule is), the reviewed findings shown and
exported (CSV, XLSX) for a day range, an agent and a rule, the center's audit trail, and a
page per agent for coaching (scores by day, the rules failed most, their calls)."""

from __future__ import annotations

import io
import math
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import login_required

from callaudit.privacy.detect import detect_in
from callaudit.privacy.mask import mask_utterances
from callaudit.records import Utterance
from callaudit.results import reviews
from callaudit.results.summary import to_csv
from callaudit.review.web.site import can, conn, me, need, rule_groups, site

PREVIEW = 200  # reviewed findings shown on the page (the export has them all)
TRAIL_PAGE = 50  # trail entries a page
RECENT = 20  # an agent's latest calls on their page
TOP_RULES = 10  # an agent's most failed rules shown, each with up to CALLS_A_RULE calls
CALLS_A_RULE = 8
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula to a spreadsheet
# the export's columns: (row key, words.py key of its heading)
COLUMNS = (("call_id", "call_id"), ("agent_id", "agent"), ("day", "day"), ("rule", "rule_id"),
           ("rule_name", "rule_name"), ("machine", "machine_verdict"),
           ("state", "reviewer_verdict"), ("reason", "reason"), ("reviewer", "reviewer"),
           ("at", "reviewed_at"), ("appeal", "appeal_state"), ("appeal_comment", "appeal_comment"),
           ("decided_by", "decided_by"), ("decision_reason", "decision_reason"),
           ("decided_at", "decided_at"), ("standing", "standing"))
TYPED = ("reason", "appeal_comment", "decision_reason")  # what people typed: masked when masking


def safe_cell(v: Any) -> Any:
    """A value as a spreadsheet cell that cannot be read as a formula: text starting with
    = + - @ (or a tab, a carriage return) is prefixed with '; numbers stay numbers."""
    if isinstance(v, str) and v.startswith(FORMULA):
        return "'" + v
    return v


def _day(name: str) -> str | None:
    """A YYYY-MM-DD query argument, else None (anything else is ignored, not an error)."""
    v = (request.args.get(name) or "").strip()
    try:
        return date.fromisoformat(v).isoformat() if len(v) == 10 else None
    except ValueError:
        return None


def _filters() -> dict[str, str | None]:
    return {"day_from": _day("day_from"), "day_to": _day("day_to"),
            "agent": (request.args.get("agent") or "").strip()[:64] or None,
            "rule": (request.args.get("rule") or "").strip()[:64] or None}


def _masker() -> Any:
    """A function masking personal data in text people typed (a reason, a comment) as the
    site masks transcripts; the identity when the site does not mask."""
    if not site().masked:
        return lambda t: t
    pack = site().pack

    def mask(text: str) -> str:
        if not text:
            return text
        utts = [Utterance(channel=0, start=0.0, end=1.0, text=text, role="agent")]
        return mask_utterances(utts, detect_in(utts, pack))[0]

    return mask


def _rows(f: dict[str, str | None]) -> list[dict[str, Any]]:
    """The reviewed findings in filter `f`, in the page's words (verdicts, appeal states,
    times), typed text masked when the site masks."""
    W, names, mask = site().W, site().names, _masker()
    out = []
    for r in reviews.reviewed_findings(conn(), f["day_from"], f["day_to"], f["agent"], f["rule"]):
        r["rule_name"] = names.get(r["rule"], r["rule"])
        r["machine"] = W["m_" + (r["machine"] or "none")]
        for k in ("state", "standing", "appeal"):
            r[k] = W.get(r[k], r[k]) if r[k] else ""
        for k in ("at", "decided_at"):
            r[k] = r[k][:16].replace("T", " ")
        for k in TYPED:
            r[k] = mask(r[k])
        out.append(r)
    return out


def _table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    W = site().W
    return ([W[w] for _, w in COLUMNS],
            [[safe_cell(r[k]) for k, _ in COLUMNS] for r in rows])


def _export_name(f: dict[str, str | None], ext: str) -> str:
    span = "_".join(v for v in (f["day_from"], f["day_to"]) if v) or "all"
    return f"reviewed_findings_{span}.{ext}"


def _download(data: bytes, mimetype: str, name: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


def chart(points: list[dict[str, Any]], pass_mark: float, label: str) -> dict[str, Any]:
    """An SVG line chart of scores (0-100) by day, its geometry computed here (the page has
    no script): width, height, the line's points, each point's x, y and label (`label`
    formatted with day, score, calls), the pass mark's y and the axis' labels."""
    w, h, left, right, top, bottom = 640, 200, 36, 24, 10, 28
    n = len(points)
    step = (w - left - right) / max(n - 1, 1)

    def y(score: float) -> float:
        return round(top + (100 - max(0.0, min(100.0, score))) / 100 * (h - top - bottom), 1)

    dots = []
    for i, p in enumerate(points):
        x = round(left + (i * step if n > 1 else (w - left - right) / 2), 1)
        dots.append({"x": x, "y": y(p["score"]), "day": p["day"], "score": p["score"],
                     "label": label.format(p["day"], p["score"], p["calls"])})
    every = max(1, math.ceil(n / 8))  # at most 8 day labels under the axis
    return {"w": w, "h": h, "left": left, "right": w - right, "top": top, "bottom": h - bottom,
            "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots,
            "pass_y": y(pass_mark), "pass_mark": pass_mark,
            "grid": [{"y": y(v), "v": v} for v in (0, 50, 100)],
            "ticks": [{"x": d["x"], "day": d["day"][5:]} for i, d in enumerate(dots)
                      if i % every == 0 or i == n - 1]}


def blueprint() -> Blueprint:
    bp = Blueprint("reports", __name__)

    @bp.get("/rules")
    @need("review")
    def precision() -> Any:
        st = site().pack.settings
        rows = []
        for rule, r in sorted(reviews.precision_by_rule(conn()).items()):
            flagged = r["precision"] is not None and r["reviewed"] >= st.review_min_reviewed \
                and r["precision"] < st.review_min_precision
            rows.append({"rule": rule, **r, "flagged": flagged})
        return render_template("precision.html.j2", rows=rows, min_precision=st.review_min_precision,
                               min_reviewed=st.review_min_reviewed)

    @bp.get("/reports")
    @need("review")
    def reports() -> Any:
        f = _filters()
        rows = _rows(f)
        rules = sorted({r.id for r in site().pack.rules})
        args = {k: v for k, v in f.items() if v}
        return render_template(
            "reports.html.j2", f=f, rows=rows[:PREVIEW], total=len(rows), shown=PREVIEW,
            agents=reviews.agents(conn()), rule_groups=rule_groups(rules),
            csv_url=url_for("reports.export_csv", **args),
            xlsx_url=url_for("reports.export_xlsx", **args))

    @bp.get("/reports/reviews.csv")
    @need("review")
    def export_csv() -> Any:
        f = _filters()
        head, body = _table(_rows(f))
        text = to_csv([dict(zip(head, r, strict=True)) for r in body]) if body else \
            to_csv([dict.fromkeys(head, "")]).splitlines()[0] + "\r\n"
        # BOM: Excel opens the Chinese right
        return _download(text.encode("utf-8-sig"), "text/csv; charset=utf-8", _export_name(f, "csv"))

    @bp.get("/reports/reviews.xlsx")
    @need("review")
    def export_xlsx() -> Any:
        from openpyxl import Workbook

        f = _filters()
        head, body = _table(_rows(f))
        wb = Workbook()
        ws = wb.active
        ws.title = "reviewed findings"
        ws.append(head)
        for r in body:
            ws.append(r)
        for cell in (c for row in ws.iter_rows() for c in row):
            if cell.data_type == "f":  # openpyxl takes "=..." for a formula: never here
                cell.data_type = "s"
        buf = io.BytesIO()
        wb.save(buf)
        return _download(buf.getvalue(),
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         _export_name(f, "xlsx"))

    @bp.get("/trail")
    @need("decide_appeal")  # supervisors and admins: the center's trail
    def trail() -> Any:
        who = (request.args.get("user") or "").strip()[:64] or None
        day = _day("day")
        page = max(1, request.args.get("page", 1, type=int) or 1)
        rows, total = reviews.trail(conn(), who, day, (page - 1) * TRAIL_PAGE, TRAIL_PAGE)
        pages = max(1, math.ceil(total / TRAIL_PAGE))
        args = {k: v for k, v in (("user", who), ("day", day)) if v}
        return render_template(
            "trail.html.j2", rows=rows, total=total, page=page, pages=pages, who=who, day=day,
            actors=reviews.trail_actors(conn()),
            prev_url=url_for("reports.trail", page=page - 1, **args) if page > 1 else None,
            next_url=url_for("reports.trail", page=page + 1, **args) if page < pages else None)

    @bp.get("/agents/<agent_id>")
    @login_required
    def agent(agent_id: str) -> Any:
        u = me()
        if not can("see_all_calls") and (u.agent_id is None or u.agent_id != agent_id):
            abort(404)  # another agent's page: as if it did not exist
        days = reviews.agent_days(conn(), agent_id)
        calls = reviews.call_list(conn(), agent_id, limit=RECENT)
        if not days and not calls and can("see_all_calls"):
            abort(404)
        W = site().W
        n = sum(d["calls"] for d in days)
        passed = sum(d["passed"] or 0 for d in days)
        failed = reviews.agent_failed_rules(conn(), agent_id)[:TOP_RULES]
        for r in failed:
            r["shown"] = r["calls"][:CALLS_A_RULE]
        return render_template(
            "agent.html.j2", agent_id=agent_id, days=days, calls=calls, failed=failed,
            total=n, pass_rate=(passed / n if n else None),
            avg=(round(sum(d["score"] * d["calls"] for d in days) / n, 1) if n else None),
            chart=chart(days, site().pack.settings.pass_mark, W["chart_label"]) if days else None)

    return bp
