"""`check: metric`: a measurement against its band (rules/measures/, one module each), with
the rule's own `params` in place of the pack settings they stand for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from callaudit.rules.context import Context, Outcome
from callaudit.rules.measures import MEASURES
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind, closest


def check(rule: Rule, ctx: Context) -> Outcome:
    if rule.own_settings:
        ctx = replace(ctx, settings=rule.settings(ctx.settings))
    return MEASURES[rule.metric].run(rule, ctx)


def problems(r: dict[str, Any]) -> list[str]:
    name = r.get("metric")
    measure = MEASURES.get(name) if isinstance(name, str) else None
    if measure is None:
        return [f"metric {name!r} is not one of {list(MEASURES)}{closest(name, MEASURES)}"]
    out = []
    params = r.get("params")
    known = {p.name: p for p in measure.params}
    if params is not None and not isinstance(params, dict):
        return [f"`params` must be a mapping ({', '.join(known) or 'none for this metric'})"]
    for k, v in (params or {}).items():
        if k == "__line__":
            continue
        if k not in known:
            out.append(f"params.{k} is not a parameter of metric {name!r} "
                       f"({', '.join(known) or 'it has none'}){closest(k, known)}")
        else:
            out += [p for p in [known[k].problem(v)] if p]
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
