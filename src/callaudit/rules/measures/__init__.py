"""The metrics a `check: metric` rule can judge, one module each (rules/units.Measure).
Adding one: a module here with its MEASURE, listed below, and a rule with examples in a pack."""

from __future__ import annotations

from callaudit.rules.measures.answer_delay import MEASURE as ANSWER_DELAY
from callaudit.rules.measures.call_length import MEASURE as CALL_LENGTH
from callaudit.rules.measures.dead_air import MEASURE as DEAD_AIR
from callaudit.rules.measures.hold_before import MEASURE as HOLD_BEFORE
from callaudit.rules.measures.hold_reminder import MEASURE as HOLD_REMINDER
from callaudit.rules.measures.interruption import MEASURE as INTERRUPTION
from callaudit.rules.measures.response_latency import MEASURE as RESPONSE_LATENCY
from callaudit.rules.measures.speech_rate import MEASURE as SPEECH_RATE
from callaudit.rules.measures.volume import MEASURE as VOLUME
from callaudit.rules.units import Measure

MEASURES: dict[str, Measure] = {m.name: m for m in (
    ANSWER_DELAY, SPEECH_RATE, DEAD_AIR, HOLD_BEFORE, HOLD_REMINDER, RESPONSE_LATENCY,
    INTERRUPTION, VOLUME, CALL_LENGTH)}
