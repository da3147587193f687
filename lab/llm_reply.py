"""Deterministic replies of the fake LLM: text, token pieces, usage and OpenAI-shaped objects.

The reply echoes key words of the last user message so a test can prove the prompt
arrived, and is the same for the same request so assertions can be exact.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from typing import Any

# Filler words a prompt is full of; skipping them leaves the words that carry the topic.
STOP_WORDS = frozenset(
    {
        "about", "after", "also", "been", "before", "being", "could", "does", "each", "from",
        "have", "here", "into", "just", "like", "make", "more", "most", "much", "only",
        "other", "over", "please", "should", "some", "such", "than", "that", "their", "them",
        "then", "there", "these", "they", "this", "those", "through", "very", "want", "what",
        "when", "where", "which", "while", "will", "with", "would", "write", "your", "yours",
        "short", "text", "copy", "draft",
    }
)  # fmt: skip
FALLBACK_WORDS = ["reliable", "mail"]


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message; content may be a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(str(p) for p in parts)
    return ""


def key_words(text: str, limit: int = 4) -> list[str]:
    """The first distinct long words of a text, lowercased, skipping filler words."""
    found: list[str] = []
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9'-]*", text):
        low = word.lower()
        if len(low) >= 4 and low not in STOP_WORDS and low not in found:
            found.append(low)
        if len(found) == limit:
            break
    return found


def reply_text(messages: list[dict[str, Any]]) -> str:
    """Canned marketing copy built around the key words of the last user message."""
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    words = key_words(message_text(user[-1])) if user else []
    words = words or FALLBACK_WORDS
    topic = " ".join(words)
    return (
        f"Introducing {topic}: mail that simply arrives. "
        f"Every message is signed, checked and delivered on time, so {words[0]} "
        "keeps your customers informed. Try it today and see the difference."
    )


def pieces(text: str) -> list[str]:
    """Split text into small token-like pieces (a word with its leading space)."""
    return re.findall(r"\s*\S+", text)


def count_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """A rough token count: about four characters a token plus a few per message."""
    total = 2
    for m in messages:
        if isinstance(m, dict):
            total += 4 + math.ceil(len(message_text(m)) / 4)
    return total


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def chunk(
    cid: str,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    usage_data: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk` object of a stream."""
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage_data is not None:
        body["usage"] = usage_data
    return body


def completion(
    model: str, text: str, finish_reason: str, usage_data: dict[str, int]
) -> dict[str, Any]:
    """A whole non-streamed `chat.completion` object."""
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_data,
    }


def model_list(models: list[str], created: int) -> dict[str, Any]:
    """The OpenAI list shape of /v1/models; owner is the id's namespace, as NVIDIA does."""
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": m.split("/")[0]}
        for m in models
    ]
    return {"object": "list", "data": data}
