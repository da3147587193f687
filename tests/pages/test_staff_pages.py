"""The staff pages for members who are not staff: one redirect to their overview, no loop."""

from __future__ import annotations

from django.test import Client


def test_a_signed_in_member_is_sent_to_the_overview_not_round_the_login(
    owner_client: Client,
) -> None:
    response = owner_client.get("/staff/", follow=True)

    assert response.redirect_chain == [("/staff/login/?next=/staff/", 302), ("/overview/", 302)]
    assert response.status_code == 200
    assert "for the panel&#x27;s operators" in response.content.decode()
