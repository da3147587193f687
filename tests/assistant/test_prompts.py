"""The messages each kind of request sends: one fixed system prompt, the user's words after."""

from __future__ import annotations

import pytest

from mailpanel.assistant.prompts import SYSTEM_PROMPT, build_messages, estimate_prompt_tokens

BRIEF = {
    "offer": "Spring tools, 20% off",
    "audience": "gardeners",
    "tone": "witty",
    "length": "long",
    "language": "French",
    "call_to_action": "Shop now",
    "placeholders": "{{first_name}}",
    "variants": 3,
}


@pytest.mark.parametrize("kind", ["email", "body", "subjects", "preheaders", "rewrite"])
def test_every_kind_sends_the_same_fixed_system_prompt(kind: str) -> None:
    system, user = build_messages(
        kind, {**BRIEF, "text": "Hello {{first_name}}", "action": "shorten"}
    )
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"


def test_an_email_brief_carries_every_field_the_user_gave() -> None:
    content = build_messages("email", BRIEF)[1]["content"]
    assert content.startswith("About: Spring tools, 20% off\nAudience: gardeners\n")
    expected = [
        "Tone: witty",
        "Length: about 300 words",
        "Language: French",
        "Call to action: Shop now",
        "Placeholders to keep exactly: {{first_name}}",
    ]
    for line in expected:
        assert line in content
    assert "SUBJECT:" in content and "HTML:" in content and "{{unsubscribe_url}}" in content


def test_subject_lines_ask_for_the_chosen_number_in_the_chosen_language() -> None:
    content = build_messages("subjects", BRIEF)[1]["content"]
    assert "Write 3 different subject lines in French" in content


@pytest.mark.parametrize(
    ("action", "extra", "instruction"),
    [
        ("shorten", {}, "Shorten the text above to about half its length"),
        ("tone", {"tone": "formal"}, "Rewrite the text above in a formal tone."),
        ("translate", {"language": "German"}, "Translate the text above into German."),
        ("deliverable", {}, "so it reaches the inbox: no spam-trigger phrases"),
    ],
)
def test_each_rewrite_sends_the_text_then_its_instruction(
    action: str, extra: dict[str, str], instruction: str
) -> None:
    text = "Our shop opens Monday. {{first_name}}, come by!"
    content = build_messages("rewrite", {"action": action, "text": text, **extra})[1]["content"]
    assert content.startswith(text + "\n\n---\n")
    assert instruction in content


def test_prompt_tokens_are_estimated_at_four_characters_a_token() -> None:
    messages = [{"role": "user", "content": "x" * 400}]
    assert estimate_prompt_tokens(messages) == 100 + 4 + 2
