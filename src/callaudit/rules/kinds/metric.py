"""`check: metric`: a measurement against its band (rules/measures/, one module each), with
the rule's own `params` in place of the pack settings they stand for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from callaudit.rules.context import Context, Outcome
from callaudit.rules.measures import MEASURES
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind, closest, param_problems


def check(rule: Rule, ctx: Context) -> Outcome:
    if rule.own_settings:
        ctx = replace(ctx, settings=rule.settings(ctx.settings))
    return MEASURES[rule.metric].run(rule, ctx)


def problems(r: dict[str, Any]) -> list[str]:
    name = r.get("metric")
    measure = MEASURES.get(name) if isinstance(name, str) else None
    if measure is None:
        return [f"metric {name!r} is not one of {list(MEASURES)}{closest(name, MEASURES)}"]
    out = param_problems(r.get("params"), measure.params, f"metric {name!r}")
    where = r.get("where") if isinstance(r.get("where"), dict) else {}
    if any(k in where for k in ("first_s", "last_s")) and not measure.windowed:
        out.append(f"metric {name!r} is judged over the whole call: `where.first_s` / "
                   "`where.last_s` are for " +
                   ", ".join(m.name for m in MEASURES.values() if m.windowed))
    return out


KIND = Kind(
    name="metric", run=check, problems=problems,
    fields=("metric", "params", "where"),
    doc="a measurement against its band",
    passes="the measurement is within its band: the pack's `settings`, or the rule's own "
           "`params`",
    not_applicable="see Metrics",
)
