"""Channel layout: which channels of a recording carry a party of their own.

A recorder that writes the same mix to both channels of a stereo file is a mono call: its
two channels must not be audited as two parties (every word would be said twice).
"""

from __future__ import annotations

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio

SAME_MIX_CHECK_S = 60.0  # compared over the first minute
SAME_MIX_ATOL = 1e-3  # sample difference below which two channels are the same mix


def distinct_channels(audio: Audio) -> list[int]:
    """Indices of the channels to audit: [0, 1] for a two-party stereo file, [0] for mono or
    for a stereo file whose channels carry the same mix."""
    if len(audio.channels) < 2:
        return [0]
    a, b = audio.channels[0], audio.channels[1]
    n = min(len(a), int(SAME_MIX_CHECK_S * SAMPLE_RATE))
    if np.allclose(a[:n], b[:n], atol=SAME_MIX_ATOL):
        return [0]
    return [0, 1]
