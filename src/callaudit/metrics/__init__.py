"""Stage 3, metrics: what is measured from the samples (acoustics) and the timing of the call
computed from speech regions and utterances (timing; every definition is in its docstring)."""
