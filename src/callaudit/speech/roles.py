"""Who is the agent.

Stereo: one party per channel; the agent's channel is the one whose words sound like an
agent's opening (greeting, 工号, 很高兴为您服务 ...), with speaking first as the tie-breaker.
Cues that tell the sides apart only weakly (a 您好: callers greet too, and Whisper writes a
caller's 你好 as 您好) do not overturn who spoke first: the first speaker is taken as the agent
(the agent answers the call) and the decision is unsure, so a failure that depends on who
spoke goes to a person rather than deducting (rules/judge.py).
Mono, separated into two speakers (diarize.py): as stereo, the speakers in place of channels.
Mono, not separated (one voice, or --no-separation): each utterance is labelled from its own
words where they are clearly the agent's, `unknown` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from callaudit.parts import Reason, roles_sure
from callaudit.records import Region, Utterance
from callaudit.speech.diarize import Diarization
from callaudit.speech.match import Stream, find
from callaudit.strings import Detail

# (phrase, weight): what agents say and callers rarely do. 您好 alone is weak: callers greet
# too. Negative weights: what callers say (their order, their complaint), so a rude agent
# with no script is still told apart from the caller.
AGENT_CUES: tuple[tuple[str, float], ...] = (
    ("工号", 3.0), ("很高兴为您服务", 3.0), ("有什么可以帮您", 3.0), ("客户服务中心", 2.0),
    ("这里是", 1.0), ("感谢您的来电", 2.0), ("请您稍等", 1.5), ("感谢您的耐心等待", 2.0),
    ("还有什么可以帮您", 2.0), ("为您查询", 1.5), ("您好", 1.0), ("请您", 0.5), ("帮您", 0.5),
    ("核实", 0.5), ("我想查一下", -1.0), ("我的订单", -1.0), ("我想问", -1.0),
    ("我要投诉", -1.5), ("怎么回事", -1.0), ("你们", -0.5), ("帮我", -1.0),
)
CUE_THRESHOLD = 0.8
# Mono, not separated: one utterance is the agent's only with at least one phrase callers
# rarely say. A 您好 alone (1.0) is not enough: a caller's 你好, heard as 您好, opened
# 您好，我家的宽带从昨天开始就上不了网了 and credited the agent with a greeting they never said.
AGENT_MIN = 1.5
# Stereo (and separated mono): cues decide against who spoke first only by this much, one
# phrase callers rarely say. A mix of a caller saying 你好世界 (heard 您好，时间) against an
# agent reading without a script gave the caller's side the agent's role, 1 to 0.
CUE_MARGIN = AGENT_MIN


@dataclass
class RoleDecision:
    agent_channel: int | None  # None for mono
    label: str  # left | right | mono
    why: Detail  # how it was decided (strings.DETAILS), worded in any language

    @property
    def sure(self) -> bool:
        """False when weak cues pointed at the side that spoke second (roles_unsure), here or
        as a separated call's agent: read from `why`, as a stored result reads it back."""
        return roles_sure(Reason(self.why.key, self.why.to_json()["args"]))

    @property
    def reason(self) -> str:
        return self.why.text("en")


def cue_score(utterances: list[Utterance]) -> float:
    stream = Stream.of(utterances)
    return sum(w for p, w in AGENT_CUES if find(stream, p, CUE_THRESHOLD))


def decide_stereo(utterances: list[Utterance], regions: list[Region], forced: str = "auto",
                  names: tuple[str, str] = ("left", "right")) -> RoleDecision:
    """The agent's channel (or separated speaker): the one that sounds like an agent, else the
    one that spoke first after connect (the agent answers the call). Cues against the first
    speaker decide only by CUE_MARGIN; by less, the first speaker is the agent, unsurely."""
    if forced in ("left", "right"):
        return RoleDecision(0 if forced == "left" else 1, forced, Detail("roles_forced"))
    by_ch = {ch: [u for u in utterances if u.channel == ch] for ch in (0, 1)}
    scores = {ch: cue_score(us) for ch, us in by_ch.items()}
    first = {ch: min((r.start for r in regions if r.channel == ch), default=float("inf"))
             for ch in (0, 1)}
    spoke_first = None if first[0] == first[1] else 0 if first[0] < first[1] else 1
    if scores[0] != scores[1]:
        cue = 0 if scores[0] > scores[1] else 1
        other = 1 - cue
        # the first speaker said nothing of a caller's (score >= 0) and the cues against
        # them are weak
        if spoke_first == other and scores[other] >= 0 and scores[cue] - scores[other] < CUE_MARGIN:
            ch, why = other, Detail("roles_unsure", {"side": names[other], "cue_side": names[cue],
                                                     "score": scores[cue], "own": scores[other]})
        else:
            ch, why = cue, Detail("roles_cues", {"side": names[cue], "score": scores[cue],
                                                 "other": scores[other]})
    elif spoke_first is not None:
        ch = spoke_first
        why = Detail("roles_first", {"side": names[ch]})
    else:
        ch, why = 0, Detail("roles_assumed", {"side": names[0]})
    return RoleDecision(ch, _name(ch), why)


def apply_stereo(utterances: list[Utterance], decision: RoleDecision) -> None:
    for u in utterances:
        u.role = "agent" if u.channel == decision.agent_channel else "customer"


def apply_mono(utterances: list[Utterance]) -> RoleDecision:
    for i, u in enumerate(utterances):
        score = cue_score([u])
        u.role = "agent" if score >= AGENT_MIN else "customer" if score < 0 else "unknown"
        if i == 0 and score >= 0:
            u.role = "agent"  # the first voice after connect is the party who answered
    n = {r: sum(u.role == r for u in utterances) for r in ("agent", "customer", "unknown")}
    return RoleDecision(None, "mono", Detail("roles_mono", dict(n)))


def _name(ch: int) -> str:
    return "left" if ch == 0 else "right"


def assign_roles(utterances: list[Utterance], regions: list[Region], channels: list[int],
                 agent_channel: str = "auto", separation: Diarization | None = None,
                 ) -> RoleDecision:
    """Set every utterance's role and say how it was decided.

    Two channels (stereo, or a mono call separated into two speakers): one party each, the
    agent's side decided by `decide_stereo` (or forced by `agent_channel` left/right on a
    stereo file). One channel: roles from each utterance's words (`apply_mono`)."""
    separated = separation is not None and separation.speakers == 2
    if separated:
        assert separation is not None
        decision = decide_stereo(utterances, regions, "auto", names=("speaker_1", "speaker_2"))
        apply_stereo(utterances, decision)
        return RoleDecision(decision.agent_channel, "mono", Detail("roles_separated", {
            "method": separation.method, "reason": separation.why,
            "confidence": separation.confidence, "agent": decision.why}))
    if len(channels) == 2:
        decision = decide_stereo(utterances, regions, agent_channel)
        apply_stereo(utterances, decision)
        return decision
    decision = apply_mono(utterances)
    if separation is not None:
        decision.why = Detail("roles_mono_why", {**decision.why.args, "method": separation.method,
                                                 "reason": separation.why})
    return decision
