"""Classification-driven delivery (分类分级), storage location (数据境内存储) and the care
raw data and sensitive personal information ask for.

The delivery matrix says, for each classification (general / important / core) and
personal-information level (``PI_ORDER``), which delivery modes (file, api, sandbox) a
product may be delivered by, and on what condition. It is configured by
``MARKET_DELIVERY_MATRIX`` in a compact form, one cell or a row of cells per entry::

    general:*=file,api,sandbox; general:sensitive_personal=sandbox;
    important:*=api,sandbox,file+assessment; important:sensitive_personal=sandbox; core:*=

``*`` stands for every personal-information level (or every classification); an entry
naming both wins over one with a ``*``. ``mode+assessment`` allows the mode only with a
security assessment on record. Every cell must be given, and core data allows nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from market.compliance.domain import (
    CLASSIFICATION_ORDER,
    MATCH_RULES,
    PI_ORDER,
    USE_RULES,
    Facts,
    Outcome,
    Stage,
    rule,
)
from market.kernel.errors import ConfigurationError

DELIVERY_MODES = ("file", "api", "sandbox")
CONDITIONS = {"assessment": "security_assessment"}  # the suffix and what it asks for
SENSITIVE_CATEGORIES = ("minors", "biometrics", "health", "financial_accounts", "whereabouts")
HOME = "CN"  # the country the data is to be stored in (数据境内存储)
SETTING = "MARKET_DELIVERY_MATRIX"

DEFAULT_MATRIX = ("general:*=file,api,sandbox; general:sensitive_personal=sandbox; "
                  "important:*=api,sandbox,file+assessment; important:sensitive_personal=sandbox;"
                  " core:*=")

# A cell: each mode it allows, with the condition it allows it on ("" for none).
Cell = Mapping[str, str]
_ENTRY = re.compile(r"^\s*([a-z_*]+)\s*:\s*([a-z_*]+)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matrix:
    """The delivery matrix: ``(classification, pi_level)`` → the modes allowed and their
    conditions; ``source`` is the compact form it was read from."""

    cells: Mapping[tuple[str, str], Cell]
    source: str

    def cell(self, classification: str, pi_level: str) -> Cell:
        """The cell of a classification and personal-information level (unknown values
        allow nothing)."""
        return self.cells.get((classification, pi_level), {})

    def as_dict(self) -> dict[str, dict[str, dict[str, str]]]:
        return {c: {p: dict(self.cell(c, p)) for p in PI_ORDER} for c in CLASSIFICATION_ORDER}


def parse_matrix(raw: str) -> Matrix:
    """The matrix a compact form describes (empty: the default).

    Raises:
        ConfigurationError: an entry is malformed or names an unknown classification,
            level, mode or condition; a cell is given twice or not at all; core data is
            allowed a mode.
    """
    source = raw.strip() or DEFAULT_MATRIX
    given: dict[tuple[str, str], dict[str, str]] = {}
    for part in filter(None, (p.strip() for p in source.split(";"))):
        found = _ENTRY.match(part)
        if found is None:
            raise ConfigurationError(
                f"{SETTING}: {part!r} is not classification:pi_level=modes")
        classification, pi_level, modes = found.groups()
        if classification != "*" and classification not in CLASSIFICATION_ORDER:
            raise ConfigurationError(f"{SETTING}: unknown classification {classification!r}; "
                                     f"use {', '.join(CLASSIFICATION_ORDER)} or *")
        if pi_level != "*" and pi_level not in PI_ORDER:
            raise ConfigurationError(f"{SETTING}: unknown personal-information level "
                                     f"{pi_level!r}; use {', '.join(PI_ORDER)} or *")
        if (classification, pi_level) in given:
            raise ConfigurationError(f"{SETTING}: {classification}:{pi_level} is given twice")
        given[(classification, pi_level)] = _modes(modes, f"{classification}:{pi_level}")
    cells: dict[tuple[str, str], Cell] = {}
    for classification in CLASSIFICATION_ORDER:
        for pi_level in PI_ORDER:
            for key in ((classification, pi_level), (classification, "*"), ("*", pi_level),
                        ("*", "*")):
                if key in given:
                    cells[(classification, pi_level)] = given[key]
                    break
            else:
                raise ConfigurationError(
                    f"{SETTING} leaves {classification}:{pi_level} undefined")
            if classification == "core" and cells[(classification, pi_level)]:
                raise ConfigurationError(
                    f"{SETTING}: core data is never traded, so core:{pi_level} allows no mode")
    return Matrix(cells, source)


def _modes(raw: str, where: str) -> dict[str, str]:
    modes: dict[str, str] = {}
    for item in filter(None, (m.strip() for m in raw.split(","))):
        mode, _, condition = item.partition("+")
        if mode not in DELIVERY_MODES:
            raise ConfigurationError(f"{SETTING}: {where} names unknown delivery mode "
                                     f"{mode!r}; use {', '.join(DELIVERY_MODES)}")
        if condition and condition not in CONDITIONS:
            raise ConfigurationError(f"{SETTING}: {where} names unknown condition "
                                     f"{condition!r}; use +{', +'.join(CONDITIONS)}")
        if mode in modes:
            raise ConfigurationError(f"{SETTING}: {where} names {mode} twice")
        modes[mode] = CONDITIONS.get(condition, "")
    return modes


_configured: Matrix | None = None


def configure_matrix(raw: str) -> Matrix:
    """Judge delivery by the matrix ``raw`` describes from now on (empty: the default);
    the application does this at startup from its settings.

    Raises:
        ConfigurationError: see :func:`parse_matrix`.
    """
    global _configured
    _configured = parse_matrix(raw)
    return _configured


def current_matrix() -> Matrix:
    """The matrix delivery is judged by: the configured one, or the default."""
    global _configured
    if _configured is None:
        _configured = parse_matrix(DEFAULT_MATRIX)
    return _configured


def describe(facts: Facts, *, development_level: str | None = None,
             storage_location: str | None = None,
             delivery_modes: Iterable[str] | None = None) -> Facts:
    """``facts`` with what the listing says of the product: its development level, where
    the version's data is stored (beside its resources' locations) and the delivery modes
    judged at this stage (the version's at listing, those the order may be delivered by at
    ordering, the one used at delivery)."""
    product = facts.product
    locations = set(product.storage_locations)
    if storage_location:
        locations.add(storage_location)
    product = dataclasses.replace(
        product, development_level=development_level or product.development_level,
        storage_locations=tuple(sorted(locations)))
    modes = tuple(delivery_modes) if delivery_modes is not None else facts.delivery_modes
    return dataclasses.replace(facts, product=product, delivery_modes=modes)


def _assessed(facts: Facts) -> bool:
    return facts.product.security_assessment or bool(
        facts.declaration.get("security_assessment_ref"))


# -- the rules -------------------------------------------------------------------------------


@rule
def delivery_mode_must_suit_classification(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """The delivery matrix (分类分级): the product's classification and personal-information
    level decide the delivery modes allowed. A listing offers only modes its cell allows;
    an order needs at least one of the modes it may be delivered by to be allowed; a
    delivery is made only by an allowed mode. A mode on condition of a security
    assessment is allowed only with one on record."""
    if facts.delivery_modes is None:
        return Outcome.PASS, "judged where the delivery modes are known"
    pf = facts.product
    cell = current_matrix().cell(pf.classification, pf.pi_level)
    assessed = _assessed(facts)
    allowed = [m for m in DELIVERY_MODES if m in cell and (not cell[m] or assessed)]
    refused = [m for m in facts.delivery_modes if m not in allowed]
    detail = {
        "classification": pf.classification, "pi_level": pf.pi_level,
        "modes": list(facts.delivery_modes), "refused_modes": refused,
        "allowed_modes": allowed,
        "conditions": {m: c for m, c in cell.items() if c},
        "security_assessment": assessed,
    }
    where = f"{pf.classification} data with pi level {pf.pi_level}"
    allows = ", ".join(allowed) or "no mode"
    conditions = "".join(f"; {m} only with a security assessment on record"
                         for m, c in cell.items() if c and not assessed)
    if facts.stage is Stage.ORDER:
        if facts.delivery_modes and not set(facts.delivery_modes) & set(allowed):
            return Outcome.BLOCK, (f"{where} may be delivered by {allows}{conditions}; the "
                                   "order could only be delivered by "
                                   + ", ".join(facts.delivery_modes)), detail
        return Outcome.PASS, f"{where} may be delivered by {allows}", detail
    if refused:
        return Outcome.BLOCK, (f"{where} may be delivered by {allows}{conditions}; not by "
                               + ", ".join(refused)), detail
    return Outcome.PASS, f"{where} may be delivered by {allows}", detail


@rule
def raw_data_needs_careful_review(facts: Facts) -> tuple[Outcome, str]:
    """Raw data (原始数据, development level raw) is listed only after a careful review by
    two different reviewers (审慎对待原始数据的流转交易)."""
    if facts.stage is Stage.LISTING and facts.product.development_level == "raw":
        return Outcome.NEEDS_REVIEW, "raw data is listed only after two reviewers approve it"
    return Outcome.PASS, "no raw data is listed"


@rule
def sensitive_categories_need_review(facts: Facts) -> tuple[Outcome, str]:
    """Data flagged with a sensitive category of personal information (minors,
    biometrics, health, financial accounts, whereabouts: 敏感个人信息) always goes to a human
    reviewer; its listing needs two different reviewers."""
    found = facts.product.sensitive_categories
    if found:
        return Outcome.NEEDS_REVIEW, ("sensitive categories are reviewed by staff: "
                                      + ", ".join(found))
    return Outcome.PASS, "no sensitive category"


@rule
def data_abroad_needs_security_assessment(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """Data stored outside the country, or sold to a buyer who uses it abroad, needs a
    security assessment on record (数据境内存储; 数据出境安全评估)."""
    abroad = sorted(c for c in facts.product.storage_locations if c != HOME)
    buyer_abroad = facts.commitment is not None and bool(facts.commitment.get("cross_border"))
    if not abroad and not buyer_abroad:
        return Outcome.PASS, "the data is stored in the country and used there"
    detail = {"storage_locations": list(facts.product.storage_locations),
              "stored_abroad": abroad, "cross_border_buyer": buyer_abroad}
    what = ("the data is stored in " + ", ".join(abroad)) if abroad else (
        "the buyer uses the data abroad")
    if _assessed(facts):
        return Outcome.PASS, f"{what}, with a security assessment on record", detail
    return Outcome.NEEDS_ASSESSMENT, f"{what}: a security assessment is needed", detail


# Matching screens a listing for an intended use with the same rule.
USE_RULES.append(data_abroad_needs_security_assessment)
MATCH_RULES.append(data_abroad_needs_security_assessment)

# The rules whose review of a listing needs two different reviewers (双重审核).
DOUBLE_REVIEW_RULES = frozenset({
    raw_data_needs_careful_review.__name__, sensitive_categories_need_review.__name__,
    "SensitivePersonalInfoNeedsReview"})


def approvals_required(kind: str, rules: Iterable[str]) -> int:
    """How many different reviewers must approve a subject the rules sent to review: two
    for a listing one of :data:`DOUBLE_REVIEW_RULES` sent there, one otherwise."""
    return 2 if kind == "listing" and DOUBLE_REVIEW_RULES.intersection(rules) else 1
