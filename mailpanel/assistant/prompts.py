"""What the assistant asks the model: one fixed system prompt, and the brief as user content.

The system prompt is a constant. Whatever the user typed (brief fields, their own text)
goes only into the ``user`` message, beside our task line, so it can never rewrite the
rules the model is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Message = dict[str, str]  # {"role": ..., "content": ...}

SYSTEM_PROMPT = (
    "You are an email copywriter working for the sender who writes to you. Write honest "
    "marketing copy for the sender's own offer, in the sender's own name. Never impersonate "
    "another brand, company, bank, authority or person. Never invent urgency about "
    "accounts, passwords, payments, security or deliveries, and never ask readers for "
    "passwords, codes or payment details. Never write phishing, scams, fake reply or "
    "forward subject lines, or claims, prices, deadlines or testimonials the brief does not "
    "give. If a request asks for any of this, write an honest version instead. Keep every "
    "placeholder in double braces, such as {{first_name}}, exactly as written. Answer with "
    "the requested copy only, in the requested format, without comments."
)

TONES = {
    "friendly": "friendly",
    "professional": "professional",
    "enthusiastic": "enthusiastic",
    "calm": "calm and reassuring",
    "witty": "witty",
    "formal": "formal",
}
LENGTHS = {"short": 80, "medium": 150, "long": 300}  # about this many words
LANGUAGES = (
    "English", "German", "French", "Spanish", "Italian", "Dutch", "Portuguese",
    "Polish", "Swedish", "Danish", "Norwegian", "Finnish", "Czech", "Japanese",
)  # fmt: skip
REWRITE_ACTIONS = {
    "shorten": "Shorten",
    "tone": "Change the tone",
    "translate": "Translate",
    "deliverable": "Make it more deliverable",
}
MAX_TOKENS = {"subjects": 400, "preheaders": 400, "body": 1500, "email": 2000, "rewrite": 2000}
PLACEHOLDER = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")

_EMAIL_FORMAT = (
    "Answer in exactly this format:\n"
    "SUBJECT: <one subject line, under 60 characters>\n"
    "PREHEADER: <one line of 40 to 100 characters>\n"
    "TEXT:\n<the plain-text body>\n"
    "HTML:\n<the same body as simple HTML: p, a, strong, em, ul, li; no images, scripts "
    "or styles>\n"
)
_BODY_FORMAT = (
    "Answer in exactly this format:\nTEXT:\n<the plain-text body>\n"
    "HTML:\n<the same body as simple HTML: p, a, strong, em, ul, li; no images, scripts "
    "or styles>\n"
)
_FOOTER = (
    "End the body with an unsubscribe line using {{unsubscribe_url}} and the sender's "
    "postal address as {{postal_address}}."
)


def placeholders_in(*texts: str) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER.finditer(text):
            found.setdefault(match.group(0), None)
    return list(found)


def _brief(inputs: Mapping[str, Any]) -> str:
    words = LENGTHS.get(str(inputs.get("length")), LENGTHS["medium"])
    rows = [
        ("About", inputs.get("offer")),
        ("Audience", inputs.get("audience")),
        ("Tone", TONES.get(str(inputs.get("tone")), "friendly")),
        ("Length", f"about {words} words"),
        ("Language", inputs.get("language") or "English"),
        ("Call to action", inputs.get("call_to_action")),
        ("Sender name", inputs.get("sender_name")),
        ("Company", inputs.get("company")),
        ("Placeholders to keep exactly", ", ".join(_all_placeholders(inputs))),
    ]
    return "\n".join(f"{label}: {value}" for label, value in rows if value)


def _all_placeholders(inputs: Mapping[str, Any]) -> list[str]:
    texts = [str(v) for v in inputs.values() if isinstance(v, str)]
    return placeholders_in(*texts)


def _task(kind: str, inputs: Mapping[str, Any]) -> str:
    count = int(inputs.get("variants") or 5)
    language = inputs.get("language") or "English"
    if kind == "subjects":
        return (
            f"Write {count} different subject lines in {language} for the email above, one "
            f"per line, numbered 1. to {count}., each under 60 characters."
        )
    if kind == "preheaders":
        return (
            f"Write {count} different preheaders (the preview line after the subject) in "
            f"{language} for the email above, one per line, numbered 1. to {count}., each "
            "40 to 100 characters."
        )
    if kind == "body":
        return (
            f"Write the body of a marketing email in {language} from the brief above. "
            f"{_FOOTER}\n{_BODY_FORMAT}"
        )
    return (
        f"Write a complete marketing email in {language} from the brief above. "
        f"{_FOOTER}\n{_EMAIL_FORMAT}"
    )


def _rewrite_task(inputs: Mapping[str, Any]) -> str:
    action = inputs.get("action")
    if action == "shorten":
        task = "Shorten the text above to about half its length, keeping its meaning."
    elif action == "tone":
        task = f"Rewrite the text above in a {TONES.get(str(inputs.get('tone')), 'friendly')} tone."
    elif action == "translate":
        task = f"Translate the text above into {inputs.get('language') or 'English'}."
    else:
        task = (
            "Rewrite the text above so it reaches the inbox: no spam-trigger phrases, no "
            "capitals for emphasis, no runs of ! or $, few links, plus an unsubscribe line "
            "and a postal address if missing."
        )
    return f"{task} Answer with the rewritten text only, after the line TEXT:"


def build_messages(kind: str, inputs: Mapping[str, Any]) -> list[Message]:
    """The request's messages: the fixed system prompt, then the user's material and task.

    The material comes first and the task last, so the instruction is what the model
    reads just before it answers.
    """
    if kind == "rewrite":
        content = f"{inputs.get('text', '')}\n\n---\n{_rewrite_task(inputs)}"
    else:
        content = f"{_brief(inputs)}\n\n---\n{_task(kind, inputs)}"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": content},
    ]


def max_tokens(kind: str) -> int:
    return MAX_TOKENS.get(kind, 1500)


def estimate_tokens(text: str) -> int:
    """About four characters a token: used only when NVIDIA sends no usage figures."""
    return (len(text) + 3) // 4


def estimate_prompt_tokens(messages: list[Message]) -> int:
    return sum(4 + estimate_tokens(m.get("content", "")) for m in messages) + 2
