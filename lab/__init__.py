"""The test lab: real peers (VPS containers, DNS provider APIs, DNS, SMTP, LLM) for tests and demos."""
