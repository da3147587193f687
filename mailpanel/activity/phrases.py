"""Audit actions ("server.added") as sentences for people ("Added the server mx1")."""

from __future__ import annotations

# {label} is the object's name as it was when the event was written.
SENTENCES: dict[str, str] = {
    "account.signed_in": "Signed in",
    "account.signed_out": "Signed out",
    "account.sign_in_failed": "A sign-in failed (wrong password)",
    "account.email_changed": "Changed the email address",
    "mfa.reset": "Two-factor authentication was reset",
    "assistant.settings_saved": "Saved the assistant's settings",
    "credential.created": "Added the credential {label}",
    "credential.renamed": "Renamed the credential {label}",
    "credential.replaced": "Replaced the secret of the credential {label}",
    "credential.deleted": "Deleted the credential {label}",
    "credential.used": "Used the credential {label}",
    "secret.used": "The panel used the secret {label}",
    "server.added": "Added the server {label}",
    "server.deleted": "Deleted the server {label}",
    "server.facts": "Read the facts of the server {label}",
    "server.host_key_confirmed": "Confirmed the host key of the server {label}",
    "domain.added": "Added the domain {label}",
    "domain.verified": "Verified the domain {label}",
    "domain.policy_changed": "Changed the policy of the domain {label}",
    "domain.deleted": "Deleted the domain {label}",
    "smtp_user.added": "Added the SMTP user {label}",
    "smtp_user.deleted": "Deleted the SMTP user {label}",
    "dns.account_connected": "Connected the DNS account {label}",
    "dns.account_removed": "Removed the DNS account {label}",
    "dns.zone_linked": "Linked the DNS zone for {label}",
    "dns.plan_applied": "Applied a DNS plan for {label}",
}


def _fallback(action: str, label: str) -> str:
    # An action named later than this table: "fleet.run_started" reads "Fleet: run started".
    noun, _, verb = action.partition(".")
    text = f"{noun.replace('_', ' ').capitalize()}: {verb.replace('_', ' ')}" if verb else action
    return f"{text} {label}".strip()


def sentence(action: str, label: str = "", message: str = "") -> str:
    """One line for the Activity page: what happened, to what, and the event's own note."""
    template = SENTENCES.get(action)
    text = template.replace("{label}", label).strip() if template else _fallback(action, label)
    return f"{text} — {message}" if message else text
