"""The AI creative assistant: email copy on the user's own NVIDIA key, streamed and linted."""
