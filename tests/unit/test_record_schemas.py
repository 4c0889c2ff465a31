"""Out schemas generated from a table's columns or a dataclass's fields (kernel.web.records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from marshmallow import fields
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from market.kernel.db import JSONType, UTCDateTime
from market.kernel.web import RecordSchema
from market.kernel.web.records import SECRET


class _Base(DeclarativeBase):
    pass


class Gadget(_Base):
    __tablename__ = "gadgets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    secret: Mapped[str] = mapped_column(String(64), nullable=False)


@dataclass(frozen=True)
class Reading:
    ok: bool
    value: int | None


class GadgetOut(RecordSchema, model=Gadget, omit=("secret",)):
    note = fields.String(allow_none=True, metadata={"description": "free text"})
    label = fields.String()


class GadgetSummaryOut(GadgetOut):
    class Meta:
        exclude = ("extra", "label")


class ReadingOut(RecordSchema, model=Reading): ...


def test_columns_become_fields_of_their_type_and_nullability() -> None:
    declared = GadgetOut._declared_fields
    assert list(declared) == ["id", "count", "note", "tags", "extra", "made_at", "label"]
    assert isinstance(declared["count"], fields.Integer)
    assert isinstance(declared["tags"], fields.List)
    assert isinstance(declared["tags"].inner, fields.String)
    assert isinstance(declared["extra"], fields.Dict)
    assert isinstance(declared["made_at"], fields.DateTime)
    assert [name for name, field in declared.items() if field.allow_none] == ["note", "extra"]


def test_declared_fields_replace_columns_and_omitted_columns_stay_hidden() -> None:
    assert GadgetOut._declared_fields["note"].metadata == {"description": "free text"}
    row = Gadget(id="g1", count=2, note=None, tags=["a"], extra=None,
                 made_at=datetime(2026, 1, 1, tzinfo=UTC), secret="s")
    assert GadgetOut().dump(row) == {"id": "g1", "count": 2, "note": None, "tags": ["a"],
                                     "extra": None, "made_at": "2026-01-01T00:00:00+00:00"}


def test_a_summary_inherits_the_columns_less_what_it_excludes() -> None:
    assert set(GadgetSummaryOut().fields) == {"id", "count", "note", "tags", "made_at"}


def test_a_dataclass_serves_as_the_model() -> None:
    assert ReadingOut().dump(Reading(ok=True, value=None)) == {"ok": True, "value": None}
    assert ReadingOut._declared_fields["value"].allow_none
    assert not ReadingOut._declared_fields["ok"].allow_none


def test_omitting_a_column_the_model_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="no column"):
        class _Typo(RecordSchema, model=Gadget, omit=("secrte",)): ...


def test_a_secret_looking_column_is_never_published_by_default() -> None:
    with pytest.raises(TypeError, match="looks secret"):
        class _Leaky(RecordSchema, model=Gadget): ...


def test_no_published_schema_shows_a_secret_looking_field(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    shown = {f"{name}.{field}" for name, schema in spec["components"]["schemas"].items()
             for field in schema.get("properties", {}) if SECRET.search(field)}
    assert shown == PUBLISHED_ON_PURPOSE


# Fields whose names look secret and are meant for the client: the credential a merchant's
# API checks (sent in, and shown once at API delivery), a download link's token and a new
# API key, each shown once; a card payment's PaymentIntent client secret, which Stripe.js
# needs and only the buyer is shown; a webhook endpoint's signing secret, shown to its owner
# once, when the endpoint is made or the secret rotated.
PUBLISHED_ON_PURPOSE = {"CredentialIn.credential", "DeliveryResultOut.credential",
                        "DownloadTokenOut.token", "IssuedKeyOut.token",
                        "CardPaymentOut.client_secret", "WebhookEndpointSecretOut.secret"}
