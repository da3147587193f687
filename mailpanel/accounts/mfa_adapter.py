"""allauth's MFA adapter, storing every two-factor secret sealed by the vault."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter

from mailpanel.accounts.mfa_secrets import seal, unseal


class MFAAdapter(DefaultMFAAdapter):  # type: ignore[misc]
    def encrypt(self, text: str) -> str:
        return seal(text)

    def decrypt(self, encrypted_text: str) -> str:
        return unseal(encrypted_text)
