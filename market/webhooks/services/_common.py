"""What the webhook use cases share: the policy the settings make, and sealing secrets."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet


@dataclass(frozen=True)
class WebhookPolicy:
    allow_private: bool
    retry_window: timedelta
    backoff_base: timedelta
    disable_after: int
    timeout_seconds: float
    secret_overlap: timedelta
    secret_key: str

    def fernet(self) -> Fernet:
        derived = hashlib.sha256(b"market webhooks\x00" + self.secret_key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self.fernet().encrypt(secret.encode()).decode()

    def unseal(self, sealed: str) -> str:
        return self.fernet().decrypt(sealed.encode()).decode()


def policy_of(settings: Any) -> WebhookPolicy:
    """The webhook policy the settings configure."""
    return WebhookPolicy(
        allow_private=bool(settings.webhooks_allow_private),
        retry_window=timedelta(hours=settings.webhooks_retry_hours),
        backoff_base=timedelta(seconds=settings.webhooks_backoff_base_seconds),
        disable_after=int(settings.webhooks_disable_after),
        timeout_seconds=float(settings.webhooks_timeout_seconds),
        secret_overlap=timedelta(hours=settings.webhooks_secret_overlap_hours),
        secret_key=str(settings.secret_key),
    )
