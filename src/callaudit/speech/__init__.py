"""Stage 2, speech: who said what. Whisper over the speech regions (asr, model), text in
Simplified characters (text), phrases matched by sound (match), mono calls split into two
speakers (diarize, embed_campp, fbank), and the agent told from the caller (roles)."""
