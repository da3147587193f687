"""Onboarding benchmark: the guided setup, driven without a human, on a bare lab host."""
