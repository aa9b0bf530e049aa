"""Words of a mono mix given to the separated speakers' turns, by their times.

A mono call is transcribed once, as one channel (dense windows, as a stereo channel is), and
each word then goes to the turn (speech/diarize.py) its time span overlaps most, or, with no
overlap, the nearest turn: WhisperX's `assign_word_speakers` does the same with a
diarization's segments (github.com/m-bain/whisperX, whisperx/diarize.py); here a word goes
to a turn, not only to a speaker, so each turn becomes one utterance as it would when
decoded by itself.

Whisper's word times are rough (a word's start often absorbs the pause before it; an edge
may be off by a tenth of a second or more) and the turns' edges are the separation's 0.1 s
frames, so where one speaker follows the other with no pause between them a word may be
given to the wrong one. Those turns, and the turns a found overlap of the two voices
touches, are `to_redecode`: decoded again alone, as the audit decoded every turn of a mono
call before, and their own words kept.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from callaudit.records import Region

Span = tuple[float, float]  # (start s, end s) of the recording


@dataclass(frozen=True)
class AttributionOptions:
    """When a turn's words are not trusted to their times.

    change_gap_s: s; two turns of different speakers this close (or closer) follow each
        other with no pause: words near the change may land on the wrong side.
    straddle_s: s; a word whose last `word_tail_s` reach this far into a turn of another
        speaker than the one it is given to straddles the change; its two turns are decoded
        again. Only a word's tail counts: its start often absorbs the pause before it (the
        next speaker's first word reaching back over the change), its end does not.
    word_tail_s: s; see straddle_s.
    overlap_min_s: s; an overlap of the two voices the separation found this long or longer
        decodes again the turns it touches. The separation marks 0.8 s around nearly every
        change inside a stretch of speech where its window scores cross over (measured on
        the real two-speaker mixes of tools/mix_mono.py, clean changes and cut-ins alike),
        so a shorter one says nothing of an overlap.
    """

    change_gap_s: float = 0.3
    straddle_s: float = 0.1
    word_tail_s: float = 0.25
    overlap_min_s: float = 1.0


def _overlap(a: Span, b: Span) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def assign(words: Sequence[Span], turns: Sequence[Region]) -> list[int]:
    """Index into `turns` (sorted by start, not overlapping) of each word (start s, end s):
    the turn its span overlaps most; with none, the nearest turn (by the gap between the
    spans; the earlier one on a tie). [] when there are no turns. A zero-length word counts
    as a point: the turn containing it."""
    if not turns:
        return []
    starts = [t.start for t in turns]
    out = []
    for a, b in words:
        k = bisect_right(starts, b)  # turns starting at or before the word's end
        best, most = -1, 0.0
        j = k - 1
        while j >= 0 and turns[j].end >= a:  # the turns the span may touch, right to left
            o = _overlap((a, b), (turns[j].start, turns[j].end))
            if o > most or (best < 0 and turns[j].start <= a <= turns[j].end):
                best, most = j, o
            j -= 1
        if best < 0:
            before = k - 1 if k > 0 else None
            after = k if k < len(turns) else None
            if before is None:
                best = after  # type: ignore[assignment]
            elif after is None or a - turns[before].end <= turns[after].start - b:
                best = before
            else:
                best = after
        out.append(best)
    return out


def changes(turns: Sequence[Region], opts: AttributionOptions) -> list[tuple[int, int]]:
    """Pairs (i, i + 1) of consecutive turns of different speakers with no pause between
    them (at most `change_gap_s`): a speaker change inside one stretch of speech."""
    return [(i, i + 1) for i in range(len(turns) - 1)
            if turns[i].channel != turns[i + 1].channel and
            turns[i + 1].start - turns[i].end <= opts.change_gap_s]


def to_redecode(words: Sequence[Span], given: Sequence[int], turns: Sequence[Region],
                overlaps: Sequence[Span], opts: AttributionOptions | None = None) -> set[int]:
    """The turns whose words are not trusted to their times (indices into `turns`): both
    turns of a change (see `changes`) the tail of a word given to one of them reaches
    `straddle_s` or more into the other, and every turn a found overlap of the two voices
    `overlap_min_s` or longer touches (AttributionOptions)."""
    opts = opts or AttributionOptions()
    out: set[int] = set()
    by_turn: dict[int, list[Span]] = {}
    for (a, b), k in zip(words, given, strict=True):
        by_turn.setdefault(k, []).append((max(a, b - opts.word_tail_s), b))
    for i, j in changes(turns, opts):
        for mine, other in ((i, j), (j, i)):
            t = turns[other]
            if any(_overlap(w, (t.start, t.end)) >= opts.straddle_s for w in by_turn.get(mine, [])):
                out |= {i, j}
                break
    for a, b in overlaps:
        if b - a >= opts.overlap_min_s:
            out |= {k for k, t in enumerate(turns) if _overlap((a, b), (t.start, t.end)) > 0}
    return out


def changing(regions: Sequence[Region], turns: Sequence[Region], overlaps: Sequence[Span],
             opts: AttributionOptions | None = None) -> tuple[set[int], list[int]]:
    """The stretches of speech (indices into `regions`, the mix's VAD regions) in which the
    speaker changes: turns of both speakers overlap it, or a found overlap of the two
    voices `overlap_min_s` or longer does; and the turns (indices into `turns`, sorted by
    start, not overlapping) that overlap those stretches. Linear in the turns and regions
    (a 3-hour call has thousands of each)."""
    opts = opts or AttributionOptions()
    ends = [t.end for t in turns]
    long = sorted((a, b) for a, b in overlaps if b - a >= opts.overlap_min_s)
    long_ends = [b for _, b in long]  # (overlaps of one speaker pair never nest)
    out: set[int] = set()
    inner: list[int] = []
    for i, r in enumerate(regions):
        k = bisect_right(ends, r.start)  # the first turn ending after the region starts
        mine = []
        while k < len(turns) and turns[k].start < r.end:
            if _overlap((r.start, r.end), (turns[k].start, turns[k].end)) > 0:
                mine.append(k)
            k += 1
        j = bisect_right(long_ends, r.start)
        if len({turns[k].channel for k in mine}) > 1 or \
                (j < len(long) and long[j][0] < r.end):
            out.add(i)
            inner += mine
    return out, sorted(set(inner))


def bounds(k: int, turns: Sequence[Region], context_s: float, duration: float) -> Span:
    """Where turn `k` is cut to be decoded alone: its span with `context_s` either side,
    never into another turn (of either speaker) nor past the middle of the pause before
    the next one, nor outside 0..duration."""
    t = turns[k]
    lo, hi = max(0.0, t.start - context_s), min(duration, t.end + context_s)
    if k > 0:
        p = turns[k - 1]
        lo = max(lo, p.end if p.channel != t.channel else (p.end + t.start) / 2)
    if k + 1 < len(turns):
        n = turns[k + 1]
        hi = min(hi, n.start if n.channel != t.channel else (t.end + n.start) / 2)
    return min(lo, t.start), max(hi, t.end)


def split_by_turns(span: Region, turns: Sequence[Region]) -> list[Region]:
    """A stretch of the mix (a region without words) cut into the turns it covers, each
    piece on its turn's speaker (the channel); the level is the stretch's."""
    return [Region(t.channel, max(span.start, t.start), min(span.end, t.end), span.level_dbfs)
            for t in turns if min(span.end, t.end) > max(span.start, t.start)]
