"""The encoder runs a few windows at a time under a bigger beam-search batch
(AsrOptions.encode_batch): its working memory grows with the batch, its output must not
change with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from callaudit.audio.decode import decode
from callaudit.speech.whisper import _encode_in_parts
from tests.helpers import SAMPLES


@pytest.mark.model
def test_the_encoder_in_parts_gives_the_whole_batchs_output(auditor: Any) -> None:
    model = auditor.transcriber.model
    fe = model.feature_extractor
    x = decode(str(SAMPLES / "demo_call.wav")).channels[0]
    n = 16000 * 10
    feats = np.stack([fe(x[i * n:(i + 1) * n])[..., :-1] for i in range(5)]).astype(np.float32)
    encode = type(model).encode.__get__(model)  # WhisperModel's own, not the Transcriber's
    whole = np.array(encode(feats))
    for k in (1, 2, 3):
        parts = np.array(_encode_in_parts(encode, k)(feats))
        assert parts.shape == whole.shape == (5, 500, 512)
        assert np.array_equal(parts, whole), k
