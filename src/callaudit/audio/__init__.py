"""Stage 1, audio: a recording decoded (decode), its channel layout decided (condition), its
call-progress tones found (tones) and its speech regions cut out (vad); levels in dBFS."""
