"""Hostile model output: a model that replies exactly this (tests/support/hosted_api_sim.py with a fixed
reply) shows what the pages make of it."""

from __future__ import annotations

# Each piece would run script, load a resource or hide text if it were interpreted as HTML.
HOSTILE = (
    "<script>window.__pwned=1</script> "
    '<img src=x onerror="window.__pwned=2"> '
    "[click me](javascript:window.__pwned=3) "
    '<a href="javascript:window.__pwned=4">link</a> '
    "<b>not bold</b> "
    '<iframe srcdoc="<script>parent.__pwned=5</script>"></iframe> '
    "日本語 \u202eevil\u202c Z\u0338\u0322 🙂 " + "W" * 120
)
MARKERS = ["<script>", "onerror=", "javascript:", "<b>not bold</b>", "<iframe", "日本語"]
