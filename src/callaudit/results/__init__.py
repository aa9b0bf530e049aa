"""Stage 5, results: the results database (store: the only module that speaks SQL), summaries
and exports of it, and re-scoring stored calls under a new rule pack (rescore)."""
