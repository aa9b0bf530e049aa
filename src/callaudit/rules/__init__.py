"""Stage 4, rules: the service norms as data (default.yaml, typed settings), loaded and merged
(pack), validated (validate), checked against a call (checks), and judged into findings and a
score (judge, score)."""
