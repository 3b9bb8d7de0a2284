"""Test support: the fake model (a loopback OpenAI-compatible server) and what tests share with bench/."""
