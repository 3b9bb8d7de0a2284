"""Evals: scoring a compare run. Assertions named as promptfoo names them (`assertions`), a judge model
for `llm-rubric` (`judge`), which assertions apply to which cell and each column's pass rate
(`scoring`), intervals, paired tests and vote rankings (`stats`), people's votes (`votes`), the
shareable HTML report (`report`) and promptfoo configs both ways (`promptfoo`).

Layering: a feature package over `lib.compare` (it scores compare runs); never imports streamlit."""
