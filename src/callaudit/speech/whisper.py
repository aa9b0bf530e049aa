"""faster-whisper, as the recognizer uses it: every reliance on its internals in one place.

We call `BatchedInferencePipeline.forward` (not `transcribe`) on windows we packed ourselves,
with `TranscriptionOptions` set as its `transcribe` sets them (word timestamps on), and we
wrap two methods of `WhisperModel`: `encode` (a batch encoded a few windows at a time: its
working memory grows with the batch, its output does not change) and
`add_word_timestamps` (timed, for the report). A new faster-whisper that moves these is
felt here, and only here (pyproject pins it below 1.3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from callaudit.errors import ModelError

Item = tuple[int, tuple[int, int], dict[str, Any]]  # (mel frames, samples a:b, faster-whisper meta)


class Samples(Protocol):
    """Audio sliced like a float32 array at 16 kHz (speech/packing.Packed)."""

    def __getitem__(self, key: slice) -> np.ndarray: ...


class BatchedWhisper:
    """A CTranslate2 Whisper model on the CPU, decoding batches of windows.

    `stage_s`: seconds spent per stage (encode, decode: the beam search, align: word
    times; "alone" is added by the recognizer), for the report's timing and the benchmark.
    Raises ModelError (one line, with the fix) when the directory cannot be loaded."""

    def __init__(self, model_dir: Path, compute_type: str = "int8", cpu_threads: int = 0,
                 encode_batch: int = 2) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        threads = cpu_threads or os.cpu_count() or 1
        try:
            self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                      cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(
                f"model directory {model_dir} could not be loaded ({str(e).splitlines()[0]}): "
                "run `make setup` again, or pass --model DIR"
            ) from None
        self.pipeline = BatchedInferencePipeline(self.model)
        self.stage_s: dict[str, float] = {"encode": 0.0, "decode": 0.0, "align": 0.0, "alone": 0.0}
        self.model.encode = _timed(  # type: ignore[method-assign]
            _encode_in_parts(self.model.encode, encode_batch), self.stage_s, "encode")
        self.model.add_word_timestamps = _timed(  # type: ignore[method-assign]
            self.model.add_word_timestamps, self.stage_s, "align")

    @property
    def features(self) -> Any:
        """The model's feature extractor (log-mel, 100 frames/s; `nb_max_frames` = 30 s)."""
        return self.model.feature_extractor

    def options(self, beam_size: int, hotwords: str | None = None) -> Any:
        """TranscriptionOptions as BatchedInferencePipeline.transcribe sets them, with word
        timestamps on. `hotwords`: faster-whisper's prompt of terms (measured in the bench;
        the audit never primes the recognizer)."""
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        return TranscriptionOptions(
            beam_size=beam_size, best_of=5, patience=1, length_penalty=1,
            repetition_penalty=1, no_repeat_ngram_size=0, log_prob_threshold=-1.0,
            no_speech_threshold=0.6, compression_ratio_threshold=2.4,
            condition_on_previous_text=False, prompt_reset_on_temperature=0.5,
            temperatures=[0.0], initial_prompt=None, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(self.tokenizer, [-1]), without_timestamps=True,
            max_initial_timestamp=0.0, word_timestamps=True,
            prepend_punctuations="\"'“¿([{-", append_punctuations="\"'.。,，!！?？:：”)]}、",
            multilingual=False, max_new_tokens=None, clip_timestamps="0",
            hallucination_silence_threshold=None, hotwords=hotwords,
        )

    @property
    def tokenizer(self) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        if not hasattr(self, "_tokenizer"):
            self._tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe",
                                        language="zh")
        return self._tokenizer

    def forward(self, packed: Samples, items: list[Item], options: Any, batch_size: int,
                ) -> Iterator[tuple[Item, list[Any]]]:
        """Each item's (frames, samples a:b of `packed`, meta) decoded, a batch of up to
        `batch_size` items of one length at a time; the features of a batch are made for it
        alone (a long call's would be 32 kB per second of speech). Yields (item, its
        faster-whisper Segments, with words)."""
        from faster_whisper.transcribe import Segment
        from faster_whisper.transcribe import Word as FwWord

        fe = self.features
        items = sorted(items, key=lambda it: it[0])
        i = 0
        while i < len(items):
            j = i
            while j < len(items) and j - i < batch_size and items[j][0] == items[i][0]:
                j += 1
            batch = items[i:j]
            n = batch[0][0]
            feats = np.stack([np.pad(f[..., :n], ((0, 0), (0, max(0, n - f.shape[-1]))))
                              for f in (fe(packed[a:b])[..., :-1] for _, (a, b), _ in batch)]
                             ).astype(np.float32)
            t0 = time.perf_counter()
            before = self.stage_s["encode"] + self.stage_s["align"]
            results = self.pipeline.forward(feats, self.tokenizer, [b[2] for b in batch], options)
            # what forward spent outside the encoder and the aligner is the beam search
            self.stage_s["decode"] += time.perf_counter() - t0 - (
                self.stage_s["encode"] + self.stage_s["align"] - before)
            for item, result in zip(batch, results, strict=True):
                yield item, [Segment(
                    id=0, seek=seg["seek"], start=seg["start"], end=seg["end"], text=seg["text"],
                    tokens=seg["tokens"], avg_logprob=seg["avg_logprob"],
                    compression_ratio=seg["compression_ratio"], no_speech_prob=seg["no_speech_prob"],
                    temperature=0.0, words=[FwWord(**w) for w in seg.get("words", [])],
                ) for seg in result]
            i = j


def _encode_in_parts(encode: Callable[[np.ndarray], Any], k: int) -> Callable[[np.ndarray], Any]:
    """`encode` (WhisperModel.encode) run on `k` windows of a batch at a time, the outputs
    joined: the beam search still sees the whole batch."""
    import ctranslate2

    def run(features: np.ndarray) -> Any:
        if features.ndim == 2 or len(features) <= k:
            return encode(features)
        # the StorageView shares the joined array's memory and keeps it alive
        return ctranslate2.StorageView.from_array(np.concatenate(
            [np.array(encode(features[i:i + k])) for i in range(0, len(features), k)]))

    return run


def _timed(fn: Callable[..., Any], acc: dict[str, float], key: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0
    return wrapper
