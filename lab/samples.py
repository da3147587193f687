"""Sample input a user would type, shared by the tests and the benchmarks."""

from __future__ import annotations

# The assistant's drafting form, filled in.
BRIEF = {
    "kind": "email",
    "offer": "Spring gardening tools, 20% off until Sunday",
    "audience": "hobby gardeners who bought seeds last year",
    "tone": "friendly",
    "length": "short",
    "language": "English",
    "call_to_action": "Shop the sale",
    "sender_name": "Greenhouse Goods",
    "company": "Greenhouse Goods Ltd",
    "placeholders": "{{first_name}}",
    "variants": "5",
}
