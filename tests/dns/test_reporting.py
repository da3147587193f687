"""DMARC and TLS-RPT: the owner's tags and report addresses survive the panel's changes."""

from __future__ import annotations

from mailpanel.dns.reporting import merge_dmarc, merge_tls_rpt, parse_tags


def test_a_new_dmarc_record_has_the_policy_and_the_report_address() -> None:
    merged = merge_dmarc([], "reject", "dmarc@example.test")
    assert merged.value == "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
    assert merged.ours == ("mailto:dmarc@example.test",) and not merged.notes
    assert merge_dmarc([], "none", "").value == "v=DMARC1; p=none"


def test_the_owners_tags_and_report_service_are_kept() -> None:
    existing = "v=DMARC1; p=none; sp=reject; rua=mailto:x@dmarc.service.test!10m; pct=50; fo=1"
    merged = merge_dmarc([existing], "quarantine", "dmarc@example.test")
    assert merged.value == (
        "v=DMARC1; p=quarantine; rua=mailto:x@dmarc.service.test!10m,mailto:dmarc@example.test;"
        " sp=reject; pct=50; fo=1"
    )
    assert merged.ours == ("mailto:dmarc@example.test",)
    assert any("p=none to p=quarantine" in n for n in merged.notes)
    assert any("sp=reject; pct=50; fo=1" in n for n in merged.notes)


def test_an_address_already_there_with_a_size_limit_is_not_added_twice() -> None:
    merged = merge_dmarc(
        ["v=DMARC1; p=none; rua=mailto:DMARC@example.test!5m"], "none", "dmarc@example.test"
    )
    assert merged.value == "v=DMARC1; p=none; rua=mailto:DMARC@example.test!5m"
    assert merged.ours == ()  # the owner's, never taken back


def test_a_report_address_the_panel_added_is_taken_back_when_the_owner_changes_it() -> None:
    existing = "v=DMARC1; p=reject; rua=mailto:old@example.test,mailto:keep@service.test"
    merged = merge_dmarc(
        [existing], "reject", "new@example.test", ours=("mailto:old@example.test",)
    )
    assert (
        merged.value == "v=DMARC1; p=reject; rua=mailto:keep@service.test,mailto:new@example.test"
    )
    assert merged.ours == ("mailto:new@example.test",)
    assert any("no longer go to mailto:old@example.test" in n for n in merged.notes)
    cleared = merge_dmarc([existing], "reject", "", ours=("mailto:old@example.test",))
    assert cleared.value == "v=DMARC1; p=reject; rua=mailto:keep@service.test"


def test_two_dmarc_records_become_one_keeping_every_report_address() -> None:
    merged = merge_dmarc(
        ["v=DMARC1; p=none; rua=mailto:a@x.test", "v=DMARC1; p=reject; rua=mailto:b@y.test"],
        "quarantine",
        "",
    )
    assert merged.value == "v=DMARC1; p=quarantine; rua=mailto:a@x.test,mailto:b@y.test"
    assert any("2 DMARC records" in n for n in merged.notes)


def test_tls_rpt_keeps_the_owners_report_service() -> None:
    merged = merge_tls_rpt(["v=TLSRPTv1; rua=https://reports.service.test/tls"], "tls@example.test")
    assert (
        merged.value == "v=TLSRPTv1; rua=https://reports.service.test/tls,mailto:tls@example.test"
    )
    assert merged.ours == ("mailto:tls@example.test",)


def test_tags_parse_loosely_as_receivers_do() -> None:
    assert parse_tags(" v=DMARC1 ;P=reject;; rua = mailto:a@b.test ; junk") == [
        ("v", "DMARC1"),
        ("p", "reject"),
        ("rua", "mailto:a@b.test"),
    ]
