"""A recording as the pages play it: Opus in Ogg, small enough to embed in a page (a data:
URI, the page stays one file) or to send to the review workbench's player.

The renderers never decode audio: whoever writes a page asks `page_audio` for its audio
source and hands the renderer that string.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from callaudit.audio.decode import Audio, decode

AUDIO_BITRATE = 12000  # Opus: telephone speech stays clear; 5 min of stereo is ~450 KB


def opus_bytes(audio: Audio | str) -> bytes:
    """The recording (decoded, or a path) as Opus in Ogg (AUDIO_BITRATE), for a page to play."""
    import av
    import numpy as np

    a = decode(audio) if isinstance(audio, str) else audio
    buf = io.BytesIO()
    layout = "stereo" if len(a.channels) == 2 else "mono"
    n = len(a.channels[0])
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48000, layout=layout)
        stream.bit_rate = AUDIO_BITRATE
        resampler = av.AudioResampler(format="s16", layout=layout, rate=48000)
        for i in range(0, n, 16000):  # a second at a time: never a copy of the whole call
            x = np.stack([c[i:i + 16000] for c in a.channels]).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=layout)
            frame.sample_rate = 16000
            for f in resampler.resample(frame):
                for p in stream.encode(f):
                    out.mux(p)
        for f in resampler.resample(None):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return buf.getvalue()


def data_uri(audio: Audio | str) -> str:
    """The recording (decoded, or a path) as Opus in Ogg, base64, for a data: URI (the page
    stays one file)."""
    return "data:audio/ogg;base64," + base64.b64encode(opus_bytes(audio)).decode()


def page_audio(audio: Audio | str | None, page: str, link: bool = False) -> str | None:
    """The `src` of the player of the page written at `page`: None without a recording; with
    `link` the recording's path relative to the page; else the recording embedded
    (`data_uri`)."""
    if audio is None:
        return None
    if link:
        path = audio if isinstance(audio, str) else audio.path
        return _relpath(path, page)
    return data_uri(audio)


def _relpath(target: str, out: str) -> str:
    return os.path.relpath(Path(target).resolve(), Path(out).resolve().parent).replace(os.sep, "/")
