"""The deliverability lint on real-looking emails: each finding, its points, the score."""

from __future__ import annotations

import pytest

from mailpanel.assistant.lint import Email, lint_email, lint_line, lint_subject

FOOTER = (
    "You get this because you bought seeds from us.\n"
    "Unsubscribe: {{unsubscribe_url}}\n"
    "Greenhouse Goods Ltd, 42 Orchard Road, Bristol BS1 4DJ"
)
GOOD_TEXT = (
    "Hi {{first_name}},\n\n"
    "Our spring tools are in: pruners, trowels and gloves that last. Until Sunday they are "
    "20% off for seed customers.\n\n"
    "Shop the sale: https://greenhouse.example/spring\n\n" + FOOTER
)
GOOD_HTML = (
    "<p>Hi {{first_name}},</p><p>Our spring tools are in: pruners, trowels and gloves that "
    "last. Until Sunday they are 20% off for seed customers.</p>"
    '<p><a href="https://greenhouse.example/spring">Shop the sale</a></p>'
    '<p>You get this because you bought seeds from us. <a href="{{unsubscribe_url}}">'
    "Unsubscribe</a><br>Greenhouse Goods Ltd, 42 Orchard Road, Bristol BS1 4DJ</p>"
)
GOOD = Email(
    "Spring tools are in, 20% off until Sunday", "Pruners, trowels and gloves", GOOD_TEXT, GOOD_HTML
)


def codes(email: Email) -> dict[str, int]:
    return {f.code: f.points for f in lint_email(email).findings}


def test_an_honest_email_with_footer_scores_full_marks() -> None:
    report = lint_email(GOOD)
    assert report.findings == ()
    assert report.score == 100


def test_a_spammy_email_loses_points_for_each_reason_and_says_why() -> None:
    email = Email(
        subject="FREE MONEY!!! Act now",
        text="Dear friend, this is 100% guaranteed $$$ cash bonus. CLICK HERE NOW!!",
    )
    report = lint_email(email)
    found = {f.code: f for f in report.findings}

    assert set(found) >= {
        "spam_phrases_subject",
        "spam_phrases",
        "caps_subject",
        "caps_words",
        "punctuation_runs",
        "unsubscribe_missing",
        "postal_address_missing",
    }
    assert "“act now”" in found["spam_phrases_subject"].message
    assert "“dear friend”" in found["spam_phrases"].message
    assert "“FREE”" in found["caps_subject"].message and "“MONEY”" in found["caps_subject"].message
    assert "“CLICK”" in found["caps_words"].message
    assert (
        "“$$$”" in found["punctuation_runs"].message
        and "“!!!”" in found["punctuation_runs"].message
    )
    assert report.score == max(0, 100 - sum(f.points for f in report.findings))
    assert report.score < 40
    # Worst first, so the page lists what matters most at the top.
    assert [f.points for f in report.findings] == sorted(
        (f.points for f in report.findings), reverse=True
    )


def test_the_score_never_goes_below_zero() -> None:
    horror = Email(
        subject="RE: URGENT!!! VERIFY YOUR ACCOUNT $$$",
        text="Verify your account. Confirm your password. " * 3 + "WINNER CASH PRIZE " * 10,
        html='<a href="http://203.0.113.9/x">https://bank.example</a><img src="x.png">',
    )
    assert lint_email(horror).score == 0


def test_account_and_password_scares_read_as_phishing() -> None:
    email = Email(
        GOOD.subject, "", "Unusual sign-in activity: verify your account today.\n" + FOOTER, ""
    )
    report = lint_email(email)
    finding = next(f for f in report.findings if f.code == "phishing_language")
    assert finding.points == 40
    assert "“verify your account”" in finding.message and "phishing" in finding.message


@pytest.mark.parametrize(
    ("subject", "code", "points"),
    [
        ("", "subject_missing", 15),
        ("x" * 61, "subject_long", 5),
        ("x" * 101, "subject_long", 10),
        ("Re: your order", "subject_fake_reply", 10),
        ("Fwd: spring sale", "subject_fake_reply", 10),
    ],
)
def test_subject_problems(subject: str, code: str, points: int) -> None:
    assert codes(Email(subject, "", GOOD_TEXT, "")).get(code) == points


def test_a_subject_of_sixty_characters_is_fine() -> None:
    assert "subject_long" not in codes(Email("x" * 60, "", GOOD_TEXT, ""))


def test_acronyms_and_placeholders_are_not_shouting() -> None:
    email = Email(
        "GDPR and HTML mail for the USA", "", "Hello {{FIRST_NAME}}, our API and SMTP.\n" + FOOTER
    )
    assert "caps_subject" not in codes(email) and "caps_words" not in codes(email)


def test_link_text_showing_another_domain_is_flagged_as_phishing() -> None:
    html = (
        '<p>Log in at <a href="https://evil.example.net/login">https://www.paypal.com</a> '
        'or <a href="https://greenhouse.example/a">greenhouse.example</a></p>'
    )
    email = Email(GOOD.subject, "", GOOD_TEXT, html + GOOD_HTML)
    finding = next(f for f in lint_email(email).findings if f.code == "links_mismatch")
    assert finding.points == 15
    assert "paypal.com → evil.example.net" in finding.message


def test_a_link_to_a_subdomain_of_the_shown_domain_is_not_a_mismatch() -> None:
    html = '<a href="https://click.greenhouse.example/t/1">greenhouse.example</a>' + GOOD_HTML
    assert "links_mismatch" not in codes(Email(GOOD.subject, "", GOOD_TEXT, html))


def test_too_many_links_shorteners_and_ip_addresses() -> None:
    links = "".join(f'<a href="https://greenhouse.example/{i}">item {i}</a> ' for i in range(13))
    html = (
        links
        + '<a href="https://bit.ly/3xyz">deal</a><a href="http://192.0.2.7/">x</a>'
        + GOOD_HTML
    )
    found = codes(Email(GOOD.subject, "", GOOD_TEXT, html))
    assert found["links_many"] == 10
    assert found["links_shortened"] == 10
    assert found["links_ip"] == 10


def test_seven_links_cost_a_little_and_placeholder_links_do_not_count() -> None:
    links = "".join(f'<a href="https://greenhouse.example/{i}">item {i}</a> ' for i in range(6))
    assert codes(Email(GOOD.subject, "", GOOD_TEXT, links + GOOD_HTML))["links_many"] == 5
    # GOOD_HTML has two links, one of them the {{unsubscribe_url}} placeholder.
    five = "".join(f'<a href="https://greenhouse.example/{i}">item {i}</a> ' for i in range(5))
    assert "links_many" not in codes(Email(GOOD.subject, "", GOOD_TEXT, five + GOOD_HTML))


def test_bare_urls_in_a_text_only_email_are_links() -> None:
    text = GOOD_TEXT + "".join(f"\nhttps://greenhouse.example/{i}" for i in range(7))
    assert codes(Email(GOOD.subject, "", text, ""))["links_many"] == 5


def test_an_email_that_is_only_images_is_flagged() -> None:
    html = (
        '<a href="https://greenhouse.example/"><img src="https://cdn.example/banner.png"></a>'
        '<img src="x.png" alt="Sale">'
    )
    found = codes(Email(GOOD.subject, "", FOOTER, html))
    assert found["image_only"] == 20
    assert found["images_no_alt"] == 2


def test_images_with_enough_text_are_fine() -> None:
    html = '<img src="https://cdn.example/tools.png" alt="Pruners and gloves">' + GOOD_HTML
    assert not {"image_only", "images_no_alt"} & set(
        codes(Email(GOOD.subject, "", GOOD_TEXT, html))
    )


def test_html_without_a_plain_text_part_is_flagged() -> None:
    assert codes(Email(GOOD.subject, "", "", GOOD_HTML))["text_missing"] == 5


def test_missing_unsubscribe_and_postal_address_cite_the_rules() -> None:
    report = lint_email(Email(GOOD.subject, "", "Our spring tools are in. Shop the sale.", ""))
    by_code = {f.code: f for f in report.findings}
    assert by_code["unsubscribe_missing"].points == 15
    assert "CAN-SPAM" in by_code["unsubscribe_missing"].message
    assert "GDPR" in by_code["unsubscribe_missing"].message
    assert by_code["postal_address_missing"].points == 10
    assert "postal address" in by_code["postal_address_missing"].message
    assert report.score == 75


@pytest.mark.parametrize(
    "footer",
    [
        "Unsubscribe here. Acme Inc, 1600 Amphitheatre Parkway, Mountain View, CA 94043",
        "Unsubscribe here. Acme Ltd, 10 Downing Street, London SW1A 2AA",
        "Abmelden: hier. Acme GmbH, Musterstraße 12, 10115 Berlin",
        "Se désinscrire. Acme SARL, 12 rue de Rivoli, 75001 Paris",
        "Opt out any time. Acme, PO Box 1234, Springfield",
        "Unsubscribe: {{unsubscribe_url}} · {{postal_address}}",
    ],
)
def test_unsubscribe_lines_and_postal_addresses_in_several_countries(footer: str) -> None:
    found = codes(Email(GOOD.subject, "", "Our spring tools are in.\n" + footer, ""))
    assert "unsubscribe_missing" not in found
    assert "postal_address_missing" not in found


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("Hi {first_name},", "{first_name}"),
        ("Hi {{first name}},", "{{first name}}"),
        ("Hi {{first_name},", "{{first_name}"),
        ("Hi {first_name}},", "{first_name}}"),
    ],
)
def test_broken_placeholders_are_flagged(text: str, broken: str) -> None:
    report = lint_email(Email(GOOD.subject, "", text + "\n" + FOOTER, ""))
    finding = next(f for f in report.findings if f.code == "placeholders_broken")
    assert f"“{broken}”" in finding.message


def test_well_formed_placeholders_are_fine() -> None:
    assert "placeholders_broken" not in codes(GOOD)


def test_one_subject_line_is_linted_alone() -> None:
    assert lint_subject("Spring tools are in").score == 100
    shouting = lint_subject("FREE gloves!!! Act now")
    assert {f.code for f in shouting.findings} == {
        "caps_subject",
        "spam_phrases_subject",
        "punctuation_runs",
    }
    # A subject line alone is not penalised for the body's footer.
    assert "unsubscribe_missing" not in {f.code for f in shouting.findings}


def test_a_preheader_is_linted_alone() -> None:
    assert lint_line("Pruners, trowels and gloves that last").score == 100
    assert lint_line("x" * 151).findings[0].code == "preheader_long"


def test_the_report_is_plain_data_for_storage() -> None:
    data = lint_email(Email("Hi", "", "Act now", "")).as_dict()
    assert data["score"] == 100 - sum(f["points"] for f in data["findings"])
    assert {"code", "points", "message"} == set(data["findings"][0])
