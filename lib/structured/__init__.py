"""Structured outputs and tool calls: response formats and schemas (`schema`), how sure the model was
of each field of a JSON reply (`confidence`), and function definitions, tool calls and their results
(`tools`). Plain Python over the openai SDK's types and `jsonschema`; no Streamlit."""
