"""Reading the model's answer into a draft's parts, including answers that ignore the format."""

from __future__ import annotations

from mailpanel.assistant.parse import parse_reply, sections, text_to_html, variants

LABELLED = """SUBJECT: Spring tools are in
PREHEADER: Pruners, trowels and gloves, 20% off
TEXT:
Hi {{first_name}},

Our spring tools are in.
Unsubscribe: {{unsubscribe_url}}
HTML:
```html
<p>Hi {{first_name}},</p><p>Our spring tools are in.</p><script>alert(1)</script>
```
"""


def test_a_labelled_answer_fills_every_part_and_its_html_is_cleaned() -> None:
    parsed = parse_reply("email", LABELLED)
    assert parsed.subject == "Spring tools are in"
    assert parsed.preheader == "Pruners, trowels and gloves, 20% off"
    assert parsed.text.startswith("Hi {{first_name}},\n\nOur spring tools")
    assert parsed.text.endswith("Unsubscribe: {{unsubscribe_url}}")
    assert parsed.html == "<p>Hi {{first_name}},</p><p>Our spring tools are in.</p>"


def test_an_answer_without_labels_keeps_all_text_and_takes_a_first_sentence_subject() -> None:
    reply = "Introducing spring tools: mail that arrives. Every message is signed."
    parsed = parse_reply("email", reply)
    assert parsed.text == reply
    assert parsed.subject == "Introducing spring tools: mail that arrives."
    assert parsed.html == f"<p>{reply}</p>"


def test_a_body_answer_has_no_invented_subject() -> None:
    assert parse_reply("body", "Just the body text.").subject == ""


def test_subject_variants_lose_numbering_and_quotes() -> None:
    reply = '1. "Spring tools are in"\n2) Gloves that last\n\n- Your garden, ready\n'
    assert variants(reply) == ["Spring tools are in", "Gloves that last", "Your garden, ready"]
    parsed = parse_reply("subjects", reply)
    assert parsed.subject == "Spring tools are in"
    assert parsed.text == "Spring tools are in\nGloves that last\nYour garden, ready"


def test_preheader_variants_choose_the_first_preheader() -> None:
    parsed = parse_reply("preheaders", "1. Pruners and gloves\n2. Tools that last")
    assert parsed.preheader == "Pruners and gloves" and parsed.subject == ""


def test_a_partial_answer_cut_inside_the_html_keeps_the_text() -> None:
    parsed = parse_reply("email", "SUBJECT: Spring\nTEXT:\nHello there\nHTML:\n<p>Hel")
    assert parsed.subject == "Spring" and parsed.text == "Hello there"
    assert parsed.html == "<p>Hel</p>"


def test_sections_are_found_with_bold_labels_and_any_case() -> None:
    assert sections("**Subject:** Hi\ntext: body") == {"SUBJECT": "Hi", "TEXT": "body"}


def test_plain_text_becomes_escaped_paragraphs_with_links_that_show_their_address() -> None:
    html = text_to_html("Tom & Jerry <3\nline two\n\nVisit https://shop.example/a?b=1&c=2 now")
    assert html == (
        "<p>Tom &amp; Jerry &lt;3<br>\nline two</p>\n"
        '<p>Visit <a href="https://shop.example/a?b=1&amp;c=2">'
        "https://shop.example/a?b=1&amp;c=2</a> now</p>"
    )
