"""The privacy benchmark: export, deletion and key rotation at scale (`python -m bench.privacy`)."""
