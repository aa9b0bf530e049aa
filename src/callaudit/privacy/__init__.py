"""Personal data in what was said: found (detect.py) after the rules have judged the words,
masked (mask.py) wherever text leaves the auditor, and in the audio of pages (audio.py).
The kinds are the rule pack's `entities:` (rules/entities.py)."""
