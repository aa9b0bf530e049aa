"""`metric: volume`: the agent's speech level and clipping (NORMS volume)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.rules.context import Context, Outcome, evidence_of, not_applicable, outcome
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Param, Row
from callaudit.settings import Settings
from callaudit.strings import metric_label


def run(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if m.agent_level_dbfs is None:
        return not_applicable("not_agent_spoke")
    lo, hi = st.volume_min_dbfs, st.volume_max_dbfs
    clip = m.agent_clipping_share or 0.0
    ok = lo <= m.agent_level_dbfs <= hi and clip <= st.clipping_max_share
    ev = [evidence_of(u) for u in ctx.by("agent") if not lo <= u.level_dbfs <= hi][:3]
    return outcome(ok, ev, "volume", level=m.agent_level_dbfs, low=lo, high=hi, clipping=clip)


def _value(m: CallMetrics, lang: str) -> str:
    v = m.agent_level_dbfs
    return "-" if v is None else f"{v:.1f} dBFS"


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    return f"{st.volume_min_dbfs:g} {metric_label('to', lang)} {st.volume_max_dbfs:g} dBFS"


MEASURE = Measure(
    name="volume", run=run, doc="the agent's speech level (RMS) and clipped share",
    params=(Param("min_dbfs", "quietest agent level", "dBFS", "volume_min_dbfs", high=0),
            Param("max_dbfs", "loudest agent level", "dBFS", "volume_max_dbfs", high=0),
            Param("max_clipping", "share of agent samples at full scale", "share 0-1",
                  "clipping_max_share", low=0, high=1)),
    fails="agent speech level out of band or clipping",
    not_applicable="the agent never spoke",
    row=Row("agent_level", _value, _norm),
)
