"""Machine speech on a party's leg, told from its words: a network's announcement (您拨打的
电话已关机 ...), an IVR or queue prompt (您的通话可能会被录音，正在为您转接 ...), a hold message,
a voicemail greeting.

Such an utterance is not the party's: its 您好 credits no greeting, its 客户服务中心 no
self-identification, and it is neither speaking time, nor a request, nor an interruption.
The phrases are rule-pack data (settings.carrier_announcements, settings.system_prompts),
matched by sound like every phrase (speech/match.py), at settings.system_threshold; phrases
in Latin letters (an announcement repeated in English) are matched as written, ignoring case.

A machine says little besides its script, a person says more around the words they share
with it, so how much of an utterance the phrases cover decides (its syllables inside a
phrase found, over all its syllables):
- a prompt covers at least COVER_MIN of its utterance, or COVER_FIRST_MIN when it comes
  before anything else said on its channel (the IVR before the agent picks up); an agent's
  好的，正在为您转接售后部门，请您稍等 covers too little;
- an announcement heard once that covers less than COVER_NETWORK_MIN is a party quoting it
  (我打了好几次，一直提示您拨打的电话正在通话中); the network repeats itself and says
  nothing else.
"""

from __future__ import annotations

import re
from collections import Counter

from callaudit.records import NotParty, Utterance
from callaudit.settings import Settings
from callaudit.speech.match import Stream, find
from callaudit.speech.phrase_index import covered
from callaudit.speech.text import is_han, spoken_units
from callaudit.strings import Detail

TAIL = "tail"  # settings.carrier_announcements' kind of phrases that only follow another
COVER_MIN = 0.5  # share of an utterance's syllables machine phrases cover: machine speech
COVER_FIRST_MIN = 0.25  # ... before anything else said on the channel (a prompt's 欢迎致电…)
COVER_NETWORK_MIN = 0.7  # an announcement heard once covers this much, or a party quotes it
REPEAT_MIN = 0.75  # an utterance this close (by sound) to an announcement heard is its repeat
HEAD_MAX_CHARS = 4  # a short greeting (您好，) on the announcement's channel just before it ...
HEAD_GAP_S = 1.5  # ... ending this soon before it, is the announcement's opening
TAIL_GAP_S = 2.0  # ... starting this soon after an announcement ends (on any channel: a
# separated mono call may give the two halves of one announcement to two "speakers")


def find_system(utts: list[Utterance], settings: Settings) -> list[NotParty]:
    """The utterances that are machine speech, as NotParty records sorted by start.

    Each has kind "system", the utterance's channel and times, the words, the phrase that
    told it, and a label: announcement:<kind> | announcement (its opening or tail) |
    voicemail | prompt. A network says its announcement twice or more: an utterance as
    close as REPEAT_MIN to one heard is its repeat, though misheard past the phrase's bar.
    A tail (请稍后再拨) is machine speech only right after an announcement (TAIL_GAP_S),
    and a short greeting on its channel right before it is its opening (您好，您拨打的…:
    HEAD_GAP_S)."""
    first = {}  # channel -> the start of its first utterance
    for u in utts:
        first.setdefault(u.channel, u.start)
    found: list[tuple[Utterance, str, str, float]] = []
    rest: list[Utterance] = []
    for u in utts:
        label, phrase, cover = _what(u, settings)
        if label == "prompt" and cover < (COVER_FIRST_MIN if u.start <= first[u.channel]
                                          else COVER_MIN):
            label = ""
        if label:
            found.append((u, label, phrase, cover))
        else:
            rest.append(u)
    kinds = Counter(label for _, label, _, _ in found)
    out: list[tuple[Utterance, NotParty]] = []
    tails: list[tuple[Utterance, str]] = []
    for u, label, phrase, cover in found:
        if label == TAIL:
            tails.append((u, phrase))
        elif label.startswith("announcement:") and kinds[label] == 1 and cover < COVER_NETWORK_MIN:
            rest.append(u)  # a party quoting it (a repeat below may still make it the network's)
        else:
            out.append((u, _record(u, label, phrase)))
    heard = [(n.label, _han(n.text)) for _, n in out if announced(n)]
    for u in sorted(rest, key=lambda u: u.start):
        stream = Stream.of([u])
        again = next((lab for lab, text in heard if len(text) >= 4 and find(stream, text, REPEAT_MIN)),
                     None)
        if again:
            out.append((u, _record(u, again, "", Detail("system_repeat", {}))))
    said = [n for _, n in out if announced(n)]
    out += [(u, _record(u, "announcement", phrase)) for u, phrase in tails
            if any(0 <= u.start - n.end <= TAIL_GAP_S for n in said)]
    taken = {id(u) for u, _ in out}
    out += [(u, _record(u, "announcement", "", Detail("system_head", {}))) for u in rest
            if id(u) not in taken and spoken_units(u.text) <= HEAD_MAX_CHARS and
            any(n.channel == u.channel and 0 <= n.start - u.end <= HEAD_GAP_S for n in said)]
    return sorted((n for _, n in out), key=lambda n: (n.start, n.channel))


def announced(n: NotParty) -> bool:
    """Is it the network's announcement of a kind (or a voicemail greeting)?"""
    return n.label.startswith("announcement:") or n.label == "voicemail"


def _han(text: str) -> str:
    return "".join(ch for ch in text if is_han(ch))


def _what(u: Utterance, settings: Settings) -> tuple[str, str, float]:
    """(label, the phrase heard, the share of the utterance machine phrases cover) of an
    utterance; label "" when it holds no machine phrase."""
    stream = Stream.of([u])
    found = ("", "")
    for kind, phrases in settings.carrier_announcements.items():
        phrase = _said(u, stream, phrases, settings.system_threshold)
        if phrase:
            found = (kind if kind in (TAIL, "voicemail") else f"announcement:{kind}", phrase)
            break
    if not found[0]:
        phrase = _said(u, stream, settings.system_prompts, settings.system_threshold)
        found = ("prompt", phrase) if phrase else ("", "")
    if not found[0]:
        return "", "", 0.0
    every = [p for ps in settings.carrier_announcements.values() for p in ps] + settings.system_prompts
    return found[0], found[1], _cover(u, stream, every, settings.system_threshold)


def _said(u: Utterance, stream: Stream, phrases: list[str], threshold: float) -> str:
    latin = [p for p in phrases if _is_latin(p)]
    written = next((p for p in latin if _plain(p) in _plain(u.text)), "")
    if written:
        return written
    hits = [h for p in phrases if p not in latin and (h := find(stream, p, threshold)) is not None]
    return max(hits, key=lambda h: (h.score, h.last - h.first)).phrase if hits else ""


def _cover(u: Utterance, stream: Stream, phrases: list[str], threshold: float) -> float:
    """The share of the utterance's syllables inside machine phrases found in it (Latin
    phrases: of its letters)."""
    if not stream.sylls:
        text = _plain(u.text)
        letters = sum(ch.isascii() and ch.isalpha() for ch in text)
        latin = sum(len(p) for p in phrases if _is_latin(p) and _plain(p) in text)
        return min(1.0, latin / letters) if letters else 0.0
    han = [p for p in phrases if not _is_latin(p)]
    return len(covered(stream, han, threshold)) / len(stream.sylls)


def _is_latin(phrase: str) -> bool:
    """A phrase in Latin letters, matched as written (speech/match.py reads Han only)."""
    return re.search("[A-Za-z]", phrase) is not None


def _plain(text: str) -> str:
    return " ".join(text.lower().split())


def _record(u: Utterance, label: str, phrase: str, why: Detail | None = None) -> NotParty:
    return NotParty(u.channel, u.start, u.end, "system", label, u.text,
                    (why or Detail("system_phrase", {"phrase": phrase})).to_json())
