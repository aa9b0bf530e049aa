"""The thresholds of a rule pack, typed: every number a rule or metric compares against.

Values live in the pack's YAML (`settings:` in rules/default.yaml, overridden by key in a
center's file); this dataclass names, documents and validates them. NORMS ids refer to
../shared/NORMS.md. Rule messages cite them as `{answer_delay_max_s}` (see `format_message`),
so a message never states a threshold the center has changed.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Thresholds of the timing rules and of phrase matching.

    Attributes:
      pass_mark: score (0-100) below which a call fails (NORMS §8).
      match_threshold: pinyin similarity (0-1] a required phrase needs; phrases of 1-2
        syllables need at least 0.9 whatever this says (speech/match.py).
      forbid_threshold: similarity (0-1] a forbidden phrase needs: stricter than required
        phrases, since a false alarm costs an agent points.
      phrase_join_gap_s: seconds; a forbidden phrase is also looked for across a pause this
        short (这是规定， / 我有什么办法), and repeat requests closer than this are one turn.
      answer_delay_max_s: seconds from connect to the agent's first speech (NORMS answer_delay).
      answer_rings_max: ringback bursts before the answer, when a ringback is recorded
        (NORMS answer_delay: 铃响三声).
      speech_rate_min_cpm, speech_rate_max_cpm: the agent's syllables per minute of speaking
        time (NORMS speech_rate, 180-220).
      speech_rate_min_speech_s: seconds of agent speech below which no rate is judged.
      speech_rate_disagree_share: 0-1; when the rate from the transcript and the rate from
        syllable nuclei heard in the audio (audio/syllables.py) differ by more than this
        share of the latter and fall on different sides of the norm, speech_rate needs review.
      speech_rate_min_utterance_s: seconds; per-utterance rates only for utterances this long.
      silence_min_s: seconds; shorter gaps with nobody speaking are not silences.
      silence_report_s: seconds; silences over this are reported (NORMS dead_air, info).
      dead_air_s: seconds; a silence over this that is not an announced hold is dead air
        (NORMS dead_air).
      hold_min_s: seconds; a wait shorter than this needs no announcement (NORMS hold_before).
      hold_reminder_s: seconds; during a hold the agent speaks at least this often
        (NORMS hold_reminder).
      hold_apology_s: seconds; a hold longer than this needs an apology (NORMS hold_apology).
      hold_phrases: what announces a hold (请您稍等 ...), matched by sound.
      response_latency_s: seconds from the caller's end to the agent's start
        (NORMS response_latency).
      interruption_overlap_s: seconds of overlap for the agent's start over the caller to
        count as an interruption (NORMS interruption).
      backchannel_max_s: seconds; agent turns this short are backchannels, not interruptions.
      backchannels: words that are backchannels when a turn holds nothing else (嗯, 好的 ...).
      caller_wait_phrases: what a caller says before looking for something (我找一下 ...): the
        silence after it is theirs, not dead air (metrics/timing.py).
      opening_scripts, closing_scripts: the center's scripts (您好，这里是…客户服务中心，工号…，
        很高兴为您服务; … marks a part that changes, a name or a number): a rule with
        `script: opening` is also credited by an utterance that matches the whole script
        with one phrase misheard (speech/match.find_script).
      closing_replies: what a caller says that is not a request (没有了, 谢谢, 再见 ...): the
        closing part of a call starts at their last utterance that is more than these
        (rules with `where: {after_last_request: true}`).
      request_min_syllables: a caller utterance is a request when this many syllables are
        left beside its closing replies (没有能, 没有了 misheard, leaves 能; 我要退订 is 4).
      volume_min_dbfs, volume_max_dbfs: band of the agent's speech RMS level (NORMS volume).
      clipping_max_share: share (0-1) of agent speech samples at full scale (NORMS volume).
      call_length_review_s: seconds; longer calls are flagged for review (NORMS call_length).
      separation_min_confidence: 0-1; below it a separated mono call's failures that depend
        on who spoke are "needs review", never deducted (speech/diarize.py).
      confidence_min: 0-1; an utterance recognized with a lower confidence (geometric-mean
        word probability) is not enough evidence alone to deduct points (rules/doubt.py).
      confidence_fatal_min: 0-1; a fatal verdict needs one utterance of its evidence this
        confident, or two independent ones over confidence_min.
      sample_lowest: the night's review queue (抽检, review/sampling.py) takes this many
        lowest-scoring calls, besides every fatal call and every call needing review.
      sample_per_agent: random calls per agent per night in the queue (an unbiased sample).
      sample_per_agent_month: each agent gets at least this many calls reviewed a month
        (when they have that many): the nightly random sample grows to reach it.
      sample_min_logprob: a call whose utterances' mean average log-probability (the
        recognizer's confidence, when the result carries it) is below this is queued.
      review_min_precision: 0-1; a rule whose reviewed precision (confirmed / reviewed) is
        below this is flagged on the dashboard and in `audit summary --by rule`.
      review_min_reviewed: a rule's precision is judged only once this many of its failures
        were reviewed.
      appeal_window_days: days after a call was audited during which its agent may appeal a
        finding (申诉, the workbench); 0: no appeals.
      number_join_gap_s: seconds; a party's utterances this close are read as one text when
        looking for personal data (a number read in parts, privacy/detect.py).
      redact_context_s: seconds; the other party's words ending this shortly before a number
        count as its context (验证码是多少？ before 四八二七一五).
      redact_audio_pad_s: seconds a masked audio span reaches beyond the estimated times of
        the masked words (privacy/audio.py).
      redact_tone_hz: pitch (Hz) of the tone over masked audio; 0: silence.
      raised_voice_db: dB; a caller utterance this much louder than the caller's own start of
        the call is said in a raised voice (metrics/voice.py; a rule's `trigger: {voice:
        raised}` fires on two such utterances within raised_voice_sustained_s).
      raised_voice_sustained_s: seconds; two raised utterances this close: the caller is
        upset, not emphatic.
      raised_pitch_st: semitones; ... or its median pitch this much higher.
      raised_voice_baseline_s: seconds of the caller's first speech that are their baseline.
      raised_voice_min_s: seconds; shorter caller utterances are not judged (嗯, 喂).
      carrier_announcements: kind -> what a network says when a call does not reach a
        person (powered_off: 您拨打的电话已关机 ..., vacant, busy, unreachable, suspended,
        no_answer, voicemail); kind `tail` (请稍后再拨 ...) is machine speech only beside an
        announcement of another kind. Matched by sound (speech/system.py); an utterance
        holding one is the network's, not a party's, and with no exchange between the parties
        the call is not connected (speech/connection.py).
      system_prompts: what an IVR, a queue or a hold message says (您的通话可能会被录音,
        正在为您转接 ...): such an utterance is the center's machine, credits no rule and is
        not the agent's speech; prompts before the agent's first words move the answer
        delay's clock to their end.
      system_threshold: similarity (0-1] an announcement or a prompt needs (stricter than
        required phrases: a human agent must not be taken for a machine).
      system_credits: rule ids a system prompt may credit (a center whose system announces
        the agent's ID on connect lists self_id here); none by default.
      readback_similarity: 0-1; the agent's digits read back must be this alike to the
        caller's (edit similarity, one digit in five may differ).
      near_miss_similarity: 0-1; a missed reply whose first clause sounds this near a phrase
        of its length (默克请 for 不客气) needs review, not a deduction (rules/doubt.py).
      exchange_min_chars: spoken characters (besides attempt_words) each party must say for
        an exchange (on one channel or an unseparated mix, twice this in all): an
        announcement, a busy tone or unanswered ringing with less is a call not connected.
      attempt_words: what an agent says into a line nobody answers (喂, 您好, 听得到吗 ...):
        not an exchange.
      vocabulary: the center's own words (工号, 订单号, its name, its products; two or more
        Han characters each): a run of whole words heard with a term's sound (toneless
        pinyin) is written as the term in the transcript people read, search and export;
        the recognizer's text stays in the result (speech/vocabulary.py).
    """

    pass_mark: float
    match_threshold: float
    forbid_threshold: float
    phrase_join_gap_s: float
    answer_delay_max_s: float
    answer_rings_max: float
    speech_rate_min_cpm: float
    speech_rate_max_cpm: float
    speech_rate_min_speech_s: float
    speech_rate_disagree_share: float
    speech_rate_min_utterance_s: float
    silence_min_s: float
    silence_report_s: float
    dead_air_s: float
    hold_min_s: float
    hold_reminder_s: float
    hold_apology_s: float
    hold_phrases: list[str]
    response_latency_s: float
    interruption_overlap_s: float
    backchannel_max_s: float
    backchannels: list[str]
    closing_replies: list[str]
    request_min_syllables: int
    opening_scripts: list[str]
    closing_scripts: list[str]
    caller_wait_phrases: list[str]
    volume_min_dbfs: float
    volume_max_dbfs: float
    clipping_max_share: float
    call_length_review_s: float
    separation_min_confidence: float
    confidence_min: float
    confidence_fatal_min: float
    sample_lowest: int
    sample_per_agent: int
    sample_per_agent_month: int
    sample_min_logprob: float
    review_min_precision: float
    review_min_reviewed: int
    appeal_window_days: int
    number_join_gap_s: float
    redact_context_s: float
    redact_audio_pad_s: float
    redact_tone_hz: float
    raised_voice_db: float
    raised_pitch_st: float
    raised_voice_baseline_s: float
    raised_voice_min_s: float
    raised_voice_sustained_s: float
    carrier_announcements: dict[str, list[str]]
    system_prompts: list[str]
    system_threshold: float
    system_credits: list[str]
    readback_similarity: float
    near_miss_similarity: float
    exchange_min_chars: float
    attempt_words: list[str]
    vocabulary: list[str]

    def scripts(self, which: str) -> list[str]:
        """The scripts a rule's `script:` names ("" -> none)."""
        return {"opening": self.opening_scripts, "closing": self.closing_scripts}.get(which, [])

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def is_list(cls, name: str) -> bool:
        return next(f for f in fields(cls) if f.name == name).type == "list[str]"

    @classmethod
    def is_map(cls, name: str) -> bool:
        return next(f for f in fields(cls) if f.name == name).type == "dict[str, list[str]]"

    @classmethod
    def is_count(cls, name: str) -> bool:
        return next(f for f in fields(cls) if f.name == name).type == "int"

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """Settings from a mapping already checked with `problems` (no `__line__` keys)."""
        return cls(**{k: list(v) if cls.is_list(k) else int(v) if cls.is_count(k) else
                      {kind: list(p) for kind, p in v.items() if kind != "__line__"}
                      if cls.is_map(k) else v
                      for k, v in values.items() if k in cls.names()})

    def to_json(self) -> dict[str, Any]:
        """Every setting by name (a new mapping; its lists are shared: read, do not change)."""
        return dict(self._json)

    @cached_property
    def _json(self) -> dict[str, Any]:
        # every rule's message cites settings, on every call judged: converted once
        return asdict(self)


# (low, high) bounds, inclusive unless noted in `_OPEN_LOW`; None: unbounded on that side
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "pass_mark": (0, 100), "match_threshold": (0, 1), "forbid_threshold": (0, 1),
    "clipping_max_share": (0, 1), "separation_min_confidence": (0, 1),
    "review_min_precision": (0, 1), "sample_min_logprob": (None, 0), "confidence_min": (0, 1),
    "speech_rate_disagree_share": (0, 1), "readback_similarity": (0, 1),
    "near_miss_similarity": (0, 1),
    "confidence_fatal_min": (0, 1), "redact_tone_hz": (0, 4000), "system_threshold": (0, 1),
    "volume_min_dbfs": (None, 0), "volume_max_dbfs": (None, 0),
}
_OPEN_LOW = {"match_threshold", "forbid_threshold", "system_threshold"}
_ORDERED = (("speech_rate_min_cpm", "speech_rate_max_cpm"), ("volume_min_dbfs", "volume_max_dbfs"),
            ("silence_report_s", "dead_air_s"), ("confidence_min", "confidence_fatal_min"))


def problems(values: dict[str, Any], line: Any = lambda key: "?") -> list[str]:
    """Every problem with a (merged) `settings:` mapping, one line each: unknown or missing
    keys, wrong types, values out of range. `line(key)` gives the YAML line of a key."""
    out: list[str] = []
    known = Settings.names()
    for k, v in values.items():
        if k == "__line__":
            continue
        where = f"line {line(k)}: setting `{k}`"
        if k not in known:
            near = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
            out.append(f"{where} is not a known setting" + (f" (did you mean `{near[0]}`?)" if near else ""))
        elif Settings.is_list(k):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                out.append(f"{where} must be a list of strings")
        elif Settings.is_map(k):
            if not isinstance(v, dict) or not all(
                    isinstance(kind, str) and isinstance(p, list) and all(isinstance(x, str) for x in p)
                    for kind, p in v.items() if kind != "__line__"):
                out.append(f"{where} must map names to lists of strings")
        elif not isinstance(v, (int, float)) or isinstance(v, bool):
            out.append(f"{where} must be a number, not {v!r}")
        elif Settings.is_count(k) and not float(v).is_integer():
            out.append(f"{where} must be a whole number, not {v!r}")
        else:
            lo, hi = _BOUNDS.get(k, (0, None))  # seconds, counts and rates are >= 0
            if (lo is not None and (v <= lo if k in _OPEN_LOW else v < lo)) or \
                    (hi is not None and v > hi):
                rng = f"{'(' if k in _OPEN_LOW else '['}{'' if lo is None else f'{lo:g}'}, " \
                      f"{'' if hi is None else f'{hi:g}'}]"
                out.append(f"{where} must be in {rng}, not {v!r}")
    out += [f"setting `{k}` is missing" for k in known if k not in values]
    for a, b in _ORDERED:
        va, vb = values.get(a), values.get(b)
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va > vb:
            out.append(f"line {line(a)}: setting `{a}` ({va:g}) must not exceed `{b}` ({vb:g})")
    return out
