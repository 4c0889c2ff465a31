"""Organisations' signing keys (电子签名, 谁签章、谁核验): registering one (pending, with a
random challenge), verifying it by its signed challenge, revoking it (kept on record), and
what the contexts above ask of the registry: whether a signature of a digest is by a key the
organisation could sign with at the time, and which key an address that signed a
declaration is."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from market.kernel.actor import Actor
from market.kernel.ids import new_id
from market.kernel.pagination import Page
from market.kernel.uow import UnitOfWork
from market.participants.errors import (
    ChallengeSignatureInvalid,
    InvalidSigningKey,
    NotOwnOrganisation,
    OrganisationNotFound,
    SigningKeyNotFound,
    SigningKeyNotPending,
    SigningKeyTaken,
)
from market.participants.models import SigningKey
from market.participants.repository import SEE_ALL_ORGANISATIONS, ParticipantRepository
from market.participants.signatures import (
    KeyStatus,
    SigningSuite,
    challenge_text,
    normalise_public_key,
    verify_digest,
    verify_text,
)


def _sees(actor: Actor, org_id: str) -> bool:
    return actor.is_system or actor.org_id == org_id or actor.has_role(*SEE_ALL_ORGANISATIONS)


def _manage(uow: UnitOfWork, org_id: str) -> None:
    """Refuse unless the caller belongs to the organisation: the operator, which sees it,
    is told so; everyone else finds no such organisation."""
    actor = uow.actor
    if actor.org_id == org_id:
        return
    if _sees(actor, org_id) and ParticipantRepository(uow.session).get_org_unscoped(org_id):
        raise NotOwnOrganisation()
    raise OrganisationNotFound()


def _own_key(uow: UnitOfWork, org_id: str, key_id: str) -> SigningKey:
    actor = uow.actor
    repo = ParticipantRepository(uow.session)
    key = repo.get_signing_key(org_id, key_id, for_update=True) if _sees(actor, org_id) else None
    if key is None:
        raise SigningKeyNotFound()
    if actor.org_id != org_id:
        raise NotOwnOrganisation()
    return key


def register_signing_key(org_id: str, suite: SigningSuite, public_key: str, name: str, *,
                         uow: UnitOfWork) -> SigningKey:
    """Register a key of the caller's organisation, pending until its challenge is signed.

    Raises:
        OrganisationNotFound, NotOwnOrganisation, InvalidSigningKey,
        SigningKeyTaken: the key is already verified, by this or another organisation.
    """
    named = normalise_public_key(suite, public_key)
    if named is None:
        problem = ("an Ethereum address or uncompressed public key"
                   if suite is SigningSuite.SECP256K1 else
                   "an SM2 public key 04 || x || y in hex, a point of the curve")
        raise InvalidSigningKey(errors={"public_key": [f"must be {problem}"]})
    with uow:
        _manage(uow, org_id)
        if ParticipantRepository(uow.session).verified_keys_named(suite.value, named):
            raise SigningKeyTaken(errors={"public_key": ["already registered and verified"]})
        key_id = new_id("skey")
        key = SigningKey(
            id=key_id, organisation_id=org_id, suite=suite.value, public_key=named, name=name,
            status=KeyStatus.PENDING.value,
            challenge=challenge_text(org_id=org_id, key_id=key_id,
                                     nonce=secrets.token_hex(32)),
            created_at=uow.clock.now(), created_by_user_id=uow.actor.user_id)
        uow.session.add(key)
        uow.session.flush()
        uow.audit.record(uow.actor, "signing_key.registered", "signing_key", key.id,
                         key.state())
        uow.commit()
        return key


def verify_signing_key(org_id: str, key_id: str, signature: str, *,
                       uow: UnitOfWork) -> SigningKey:
    """Verify a pending key of the caller's organisation by its signature of the key's
    challenge. A signature that does not verify leaves the key pending and writes nothing.

    Raises:
        SigningKeyNotFound, NotOwnOrganisation, SigningKeyNotPending,
        ChallengeSignatureInvalid, SigningKeyTaken.
    """
    with uow:
        key = _own_key(uow, org_id, key_id)
        if key.status != KeyStatus.PENDING.value:
            raise SigningKeyNotPending(status=key.status)
        if not verify_text(SigningSuite(key.suite), key.public_key, key.challenge, signature):
            raise ChallengeSignatureInvalid(errors={"signature": [
                "does not verify against the key over its challenge"]})
        repo = ParticipantRepository(uow.session)
        if repo.verified_keys_named(key.suite, key.public_key):
            raise SigningKeyTaken(errors={"public_key": ["already registered and verified"]})
        key.verify(uow.clock.now())
        uow.session.flush()
        uow.audit.record(uow.actor, "signing_key.verified", "signing_key", key.id, key.state())
        uow.commit()
        return key


def revoke_signing_key(org_id: str, key_id: str, reason: str, *,
                       uow: UnitOfWork) -> SigningKey:
    """Revoke a key of the caller's organisation: it signs nothing from now on and stays on
    record, so what it signed before still verifies. Revoking twice changes nothing.

    Raises:
        SigningKeyNotFound, NotOwnOrganisation.
    """
    with uow:
        key = _own_key(uow, org_id, key_id)
        if key.revoke(by_user_id=uow.actor.user_id, reason=reason, at=uow.clock.now()):
            uow.session.flush()
            uow.audit.record(uow.actor, "signing_key.revoked", "signing_key", key.id,
                             key.state())
            uow.commit()
        return key


def list_signing_keys(org_id: str, *, uow: UnitOfWork, status: str | None = None,
                      after: str | None = None, limit: int = 50) -> Page[SigningKey]:
    """An organisation's signing keys, revoked ones too: its own users', the operator's and
    regulators' to read.

    Raises:
        OrganisationNotFound: no such organisation visible to the caller.
    """
    with uow:
        repo = ParticipantRepository(uow.session)
        if not _sees(uow.actor, org_id) or repo.get_org_unscoped(org_id) is None:
            raise OrganisationNotFound()
        return repo.list_signing_keys(org_id, status=status, after=after, limit=limit)


@dataclass(frozen=True)
class KeySignature:
    """What the registry says of a signature by an organisation's key: the key (None when
    the organisation has no such key), what it was at the time of signing, and whether the
    signature verifies against it."""

    key_id: str
    org_id: str
    suite: str | None
    public_key: str | None
    status: str  # verified, pending or revoked at the time; unregistered: no such key
    verifies: bool

    @property
    def usable(self) -> bool:
        """A verified, unrevoked key of the organisation at the time of signing."""
        return self.status == KeyStatus.VERIFIED.value


UNREGISTERED = "unregistered"


def check_digest_signature(org_id: str, key_id: str, digest_hex: str, signature: str, *,
                           at: datetime, uow: UnitOfWork) -> KeySignature:
    """What the registry says of ``signature`` of the SHA-256 digest ``digest_hex`` by the
    organisation's key ``key_id`` at ``at`` (another organisation's key is unregistered for
    this one). Runs in the caller's transaction."""
    key = ParticipantRepository(uow.session).get_signing_key(org_id, key_id)
    if key is None:
        return KeySignature(key_id, org_id, None, None, UNREGISTERED, False)
    return KeySignature(key.id, org_id, key.suite, key.public_key, key.status_at(at),
                        verify_digest(SigningSuite(key.suite), key.public_key, digest_hex,
                                      signature))


def vouching_key(org_id: str, address: str, *, at: datetime, uow: UnitOfWork) -> str | None:
    """The id of the organisation's secp256k1 key named ``address`` that could sign at
    ``at`` (verified, unrevoked), if it has one: a declaration it signed is vouched for.
    Runs in the caller's transaction."""
    named = normalise_public_key(SigningSuite.SECP256K1, address)
    if named is None:
        return None
    keys = ParticipantRepository(uow.session).keys_named(org_id, SigningSuite.SECP256K1.value,
                                                         named)
    return next((key.id for key in keys if key.usable_at(at)), None)
