"""Did the call reach a person? Decided before any rule runs.

A call is **not connected** when the recording shows why (a network's announcement: powered
off, vacant number, busy, unreachable, suspended, no answer; a voicemail greeting; a busy
tone before anybody said a word; ringing after which nobody said a word; the center's
prompts and nobody else: abandoned in the queue) and the parties never had an exchange.
A busy tone after the far leg said something is the line dropping at the end of a call, not
a busy line; a word or two (half of exchange_min_chars) may be a misheard 喂. Like a recording
with no speech, it is not a call to judge: no score, never a pass.

Exchange: each of two parties said at least settings.exchange_min_chars spoken characters
besides settings.attempt_words (喂？您好？听得到吗？), machine speech left out; on one channel
(a mono mix, or one live channel), twice that in all, since who said what is not known.
An agent saying 喂？您好？ into an announcement is no exchange; a caller quoting one
(一直提示您拨打的电话正在通话中) in a real conversation is.
"""

from __future__ import annotations

from collections import Counter

from callaudit.audio.tones import Ringback
from callaudit.records import NotParty, Utterance
from callaudit.settings import Settings
from callaudit.speech.match import Stream
from callaudit.speech.phrase_index import covered
from callaudit.speech.system import announced
from callaudit.speech.text import spoken_units
from callaudit.strings import Detail

ANSWER_SLACK_S = 0.3  # speech starting this close before a ring's end is not after it


def not_connected(system: list[NotParty], utts: list[Utterance], ringback: Ringback,
                  two_parties: bool, settings: Settings) -> Detail | None:
    """Why the call never reached a person, or None when it did (or nothing shows it did
    not). `utts` without machine speech; `two_parties`: each channel is one party's (a
    stereo call), not a mix."""
    if exchange(utts, two_parties, settings):
        return None
    said = [n for n in system if announced(n)]
    if said:
        label, _ = Counter(n.label for n in said).most_common(1)[0]
        first = next(n for n in said if n.label == label)
        kind = label.split(":", 1)[1] if ":" in label else label
        return Detail("not_connected_announcement", {
            "kind": kind, "text": first.text, "at": round(first.start, 1),
            "times": sum(n.label == label for n in said)})
    few = settings.exchange_min_chars / 2  # a word or two, misheard 喂 included, is no answer
    for s, _, lab, ch in ringback.spans:
        if lab.startswith("busy:"):  # before the far leg (on one channel: anybody) said much
            before = sum(_words(u, settings) for u in utts
                         if u.start < s and (u.channel == ch or not two_parties))
            if before < (few if two_parties else settings.exchange_min_chars):
                return Detail("not_connected_busy", {"at": round(s, 1)})
            break  # the first busy tone decides: later ones follow a call that was made
    if ringback.rings and ringback.bursts:
        last_end = ringback.bursts[-1][1]
        if sum(_words(u, settings) for u in utts if u.start >= last_end - ANSWER_SLACK_S) < few:
            return Detail("not_connected_no_answer", {"rings": ringback.rings})
    if not utts and any(n.label == "prompt" for n in system):
        return Detail("not_connected_queue", {})
    return None


def exchange(utts: list[Utterance], two_parties: bool, settings: Settings) -> bool:
    """Did the parties talk with each other (see the module docstring)?"""
    said: Counter[int] = Counter()
    for u in utts:
        said[u.channel if two_parties else 0] += _words(u, settings)
    need = settings.exchange_min_chars
    if two_parties:
        return sum(n >= need for n in said.values()) >= 2
    return sum(said.values()) >= 2 * need


def _words(u: Utterance, settings: Settings) -> int:
    """Spoken characters of `u` besides the attempt words in it."""
    # as said (similarity 1): 喂 is one syllable
    return max(0, spoken_units(u.text) - len(covered(Stream.of([u]), settings.attempt_words, 1.0)))
