"""The test lab: real peers (VPS hosts, DNS provider APIs, DNS, SMTP, LLM) for tests."""
