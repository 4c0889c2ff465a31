"""Pure rules about data rights: kinds, states, scope and term, and the automatic refusals.

The refusals are small named functions over facts passed in by value; each returns the
violations it finds (empty when it passes), so a refused registration names every broken
rule and link at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RightKind(StrEnum):
    RESOURCE_HOLDING = "resource_holding"  # 数据资源持有权
    PROCESSING_USE = "processing_use"  # 数据加工使用权
    PRODUCT_OPERATION = "product_operation"  # 数据产品经营权


class RightStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    REGISTERED = "registered"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


# submitted → under_review → registered | rejected; registered → suspended ⇄ registered;
# registered (or suspended) → revoked | expired. A reviewer may hand a claim back.
TRANSITIONS: dict[RightStatus, frozenset[RightStatus]] = {
    RightStatus.SUBMITTED: frozenset({RightStatus.UNDER_REVIEW}),
    RightStatus.UNDER_REVIEW: frozenset(
        {RightStatus.REGISTERED, RightStatus.REJECTED, RightStatus.SUBMITTED}
    ),
    RightStatus.REGISTERED: frozenset(
        {RightStatus.SUSPENDED, RightStatus.REVOKED, RightStatus.EXPIRED}
    ),
    RightStatus.SUSPENDED: frozenset(
        {RightStatus.REGISTERED, RightStatus.REVOKED, RightStatus.EXPIRED}
    ),
    RightStatus.REJECTED: frozenset(),
    RightStatus.REVOKED: frozenset(),
    RightStatus.EXPIRED: frozenset(),
}

LIVE = frozenset({RightStatus.REGISTERED, RightStatus.SUSPENDED})
PENDING = frozenset({RightStatus.SUBMITTED, RightStatus.UNDER_REVIEW})
ENDED = frozenset({RightStatus.REJECTED, RightStatus.REVOKED, RightStatus.EXPIRED})


class Origin(StrEnum):
    PUBLIC_AUTHORISED = "public_authorised"  # 公共数据授权运营
    ENTERPRISE = "enterprise"
    PERSONAL = "personal"


class Classification(StrEnum):
    GENERAL = "general"  # 一般数据
    IMPORTANT = "important"  # 重要数据
    CORE = "core"  # 核心数据


class PILevel(StrEnum):
    NONE = "none"
    ANONYMISED = "anonymised"
    DEIDENTIFIED = "deidentified"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"


class SensitiveCategory(StrEnum):
    """Sensitive personal information a resource holds (敏感个人信息, PIPL art. 28)."""

    MINORS = "minors"  # 不满十四周岁未成年人的个人信息
    BIOMETRICS = "biometrics"  # 生物识别
    HEALTH = "health"  # 医疗健康
    FINANCIAL_ACCOUNTS = "financial_accounts"  # 金融账户
    WHEREABOUTS = "whereabouts"  # 行踪轨迹


HOME_COUNTRY = "CN"  # data is stored in the country unless declared otherwise (数据境内存储)


def storage_problems(storage_location: str, storage_region: str | None) -> dict[str, str]:
    """What is wrong with a declared storage location: an ISO 3166-1 alpha-2 country code
    in capitals, and an optional region text."""
    found: dict[str, str] = {}
    if len(storage_location) != 2 or not storage_location.isascii() or (
            not storage_location.isalpha() or not storage_location.isupper()):
        found["storage_location"] = "must be an ISO 3166-1 alpha-2 country code, e.g. CN"
    if storage_region is not None and not 1 <= len(storage_region.strip()) <= 100:
        found["storage_region"] = "must be 1 to 100 characters"
    return found


def sensitive_category_problems(pi_level: str, categories: Sequence[str]) -> dict[str, str]:
    """What is wrong with a resource's sensitive categories: each known, none twice, and
    only on data about people (a personal-information level other than none)."""
    known = {c.value for c in SensitiveCategory}
    unknown = sorted(set(categories) - known)
    if unknown:
        return {"sensitive_categories": "unknown: " + ", ".join(unknown)}
    if len(set(categories)) != len(categories):
        return {"sensitive_categories": "each category once"}
    if categories and pi_level == PILevel.NONE.value:
        return {"sensitive_categories": "data with no personal information has none"}
    return {}


class Territory(StrEnum):
    DOMESTIC = "domestic"
    CROSS_BORDER = "cross_border"


class EvidenceKind(StrEnum):
    SOURCE_LEGALITY = "source_legality"
    CONSENT = "consent"
    ANONYMISATION = "anonymisation"
    SECURITY_ASSESSMENT = "security_assessment"
    AUTHORISATION = "authorisation"
    CONTRACT = "contract"
    OTHER = "other"


def can_transition(current: RightStatus, target: RightStatus) -> bool:
    return target in TRANSITIONS[current]


@dataclass(frozen=True)
class Scope:
    purposes: frozenset[str]
    scenarios: frozenset[str]
    territory: Territory

    def uncovered(self, child: Scope) -> list[str]:
        """What of ``child`` this scope does not cover (empty when it covers all)."""
        gaps = [f"purpose {p!r}" for p in sorted(child.purposes - self.purposes)]
        gaps += [f"scenario {s!r}" for s in sorted(child.scenarios - self.scenarios)]
        if child.territory is Territory.CROSS_BORDER and self.territory is Territory.DOMESTIC:
            gaps.append("cross-border use")
        return gaps


@dataclass(frozen=True)
class Term:
    valid_from: datetime
    valid_to: datetime | None  # None: no end date

    def contains(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def covers(self, child: Term) -> bool:
        if child.valid_from < self.valid_from:
            return False
        if self.valid_to is None:
            return True
        return child.valid_to is not None and child.valid_to <= self.valid_to


@dataclass(frozen=True)
class Violation:
    """One broken rule; ``right_id`` names the broken link of a chain, if any."""

    code: str
    message: str
    right_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "right_id": self.right_id}


@dataclass(frozen=True)
class ResourceFacts:
    id: str
    holder_org_id: str
    classification: Classification
    pi_level: PILevel
    evidence: frozenset[EvidenceKind]
    open_dispute: bool


@dataclass(frozen=True)
class RightFacts:
    id: str
    kind: RightKind
    status: RightStatus
    holder_org_id: str
    resource_id: str | None
    scope: Scope
    term: Term


@dataclass(frozen=True)
class GrantFacts:
    id: str
    holding_right_id: str
    grantor_org_id: str
    grantee_org_id: str
    resource_id: str
    active: bool
    scope: Scope
    term: Term
    evidence: frozenset[EvidenceKind] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Application:
    """A registration as submitted, with every fact the refusals need."""

    kind: RightKind
    holder_org_id: str
    scope: Scope
    term: Term
    resources: Sequence[ResourceFacts]  # the subject, or every resource a product derives from
    parents: Sequence[RightFacts]
    missing_parents: Sequence[str]
    grant: GrantFacts | None
    evidence: frozenset[EvidenceKind]
    at: datetime
    # Parents that exist but are held by another organisation without a grant naming the
    # applicant: only their holder is a fact the applicant may learn.
    foreign_parents: Sequence[str] = ()


Rule = Callable[[Application], list[Violation]]


def core_data_is_never_registered(app: Application) -> list[Violation]:
    return [Violation("core_data", f"resource {r.id} is core data (核心数据) and cannot be traded")
            for r in app.resources if r.classification is Classification.CORE]


def disputed_subjects_wait_for_resolution(app: Application) -> list[Violation]:
    return [Violation("subject_disputed", f"resource {r.id} has an open rights dispute")
            for r in app.resources if r.open_dispute]


def personal_information_needs_a_lawful_basis(app: Application) -> list[Violation]:
    found: list[Violation] = []
    extra = app.evidence | (app.grant.evidence if app.grant else frozenset())
    for r in app.resources:
        evidence = r.evidence | extra
        if r.pi_level in (PILevel.PERSONAL, PILevel.SENSITIVE_PERSONAL):
            if EvidenceKind.CONSENT not in evidence:
                found.append(Violation(
                    "personal_data_without_basis",
                    f"resource {r.id} holds personal information but no consent evidence",
                ))
        elif r.pi_level in (PILevel.ANONYMISED, PILevel.DEIDENTIFIED) and not (
            evidence & {EvidenceKind.ANONYMISATION, EvidenceKind.CONSENT}
        ):
            found.append(Violation(
                "personal_data_without_basis",
                f"resource {r.id} is {r.pi_level.value} but has no anonymisation or consent "
                "evidence",
            ))
    return found


def holding_rights_need_source_legality_evidence(app: Application) -> list[Violation]:
    if app.kind is not RightKind.RESOURCE_HOLDING:
        return []
    return [Violation("source_legality_missing",
                      f"resource {r.id} has no source-legality evidence")
            for r in app.resources
            if EvidenceKind.SOURCE_LEGALITY not in r.evidence | app.evidence]


def holding_rights_belong_to_the_resource_holder(app: Application) -> list[Violation]:
    if app.kind is not RightKind.RESOURCE_HOLDING:
        return []
    return [Violation("wrong_holder", f"resource {r.id} is registered by another organisation")
            for r in app.resources if r.holder_org_id != app.holder_org_id]


def parents_must_exist(app: Application) -> list[Violation]:
    found = [Violation("parent_missing", f"parent right {p} does not exist", p)
             for p in app.missing_parents]
    if app.kind is RightKind.RESOURCE_HOLDING and (app.parents or app.missing_parents):
        found.append(Violation("wrong_parent_kind", "a resource holding right has no parent"))
    if app.kind is RightKind.RESOURCE_HOLDING and app.foreign_parents:
        found.append(Violation("wrong_parent_kind", "a resource holding right has no parent"))
    if app.kind is not RightKind.RESOURCE_HOLDING and not (
        app.parents or app.missing_parents or app.foreign_parents
    ):
        found.append(Violation("parent_missing", f"a {app.kind.value} right needs a parent right"))
    return found


def parents_must_be_registered_and_in_term(app: Application) -> list[Violation]:
    found: list[Violation] = []
    for p in app.parents:
        if p.status is not RightStatus.REGISTERED:
            found.append(Violation("parent_not_registered",
                                   f"parent right {p.id} is {p.status.value}", p.id))
        elif not p.term.contains(app.at):
            found.append(Violation("parent_not_in_term",
                                   f"parent right {p.id} is not in term", p.id))
    return found


def parents_must_cover_the_child(app: Application) -> list[Violation]:
    found: list[Violation] = []
    for p in app.parents:
        gaps = p.scope.uncovered(app.scope)
        if gaps:
            found.append(Violation("scope_exceeded",
                                   f"parent right {p.id} does not cover " + ", ".join(gaps), p.id))
        if not p.term.covers(app.term):
            found.append(Violation("term_exceeded",
                                   f"the term goes beyond parent right {p.id}'s term", p.id))
    return found


def parents_must_fit_the_kind(app: Application) -> list[Violation]:
    found: list[Violation] = []
    subject = {r.id for r in app.resources}
    if app.kind is RightKind.PROCESSING_USE:
        if len(app.parents) > 1:
            found.append(Violation("wrong_parent_kind",
                                   "a processing-use right has exactly one parent"))
        for p in app.parents:
            if p.kind is not RightKind.RESOURCE_HOLDING:
                found.append(Violation("wrong_parent_kind",
                                       f"parent right {p.id} is not a resource holding right",
                                       p.id))
            elif p.resource_id not in subject:
                found.append(Violation("wrong_parent_kind",
                                       f"parent right {p.id} is over another resource", p.id))
    if app.kind is RightKind.PRODUCT_OPERATION:
        for p in app.parents:
            if p.kind is RightKind.PRODUCT_OPERATION:
                found.append(Violation("wrong_parent_kind",
                                       f"parent right {p.id} is a product operation right", p.id))
        covered = [p.resource_id for p in app.parents]
        for resource_id in sorted({c for c in covered if covered.count(c) > 1 and c}):
            found.append(Violation("wrong_parent_kind",
                                   f"resource {resource_id} has more than one parent right"))
    return found


def parents_must_be_held_or_granted(app: Application) -> list[Violation]:
    found = [Violation("wrong_holder", f"parent right {p} is held by another organisation "
                                       "and no grant of it names you", p)
             for p in app.foreign_parents]
    for p in app.parents:
        if p.holder_org_id == app.holder_org_id:
            continue
        grant = app.grant
        granted = (
            app.kind is RightKind.PROCESSING_USE
            and grant is not None
            and grant.holding_right_id == p.id
            and grant.grantee_org_id == app.holder_org_id
        )
        if not granted:
            found.append(Violation("wrong_holder",
                                   f"parent right {p.id} is held by another organisation "
                                   "and no grant of it names you", p.id))
    return found


def grants_must_be_live_and_cover_the_right(app: Application) -> list[Violation]:
    grant = app.grant
    if grant is None:
        return []
    found: list[Violation] = []
    if app.kind is not RightKind.PROCESSING_USE:
        found.append(Violation("grant_invalid", "only processing-use rights rest on a grant"))
    if grant.grantee_org_id != app.holder_org_id:
        found.append(Violation("grant_invalid", f"grant {grant.id} names another grantee"))
    if not grant.active:
        found.append(Violation("grant_invalid", f"grant {grant.id} is revoked"))
    elif not grant.term.contains(app.at):
        found.append(Violation("grant_invalid", f"grant {grant.id} is not in term"))
    gaps = grant.scope.uncovered(app.scope)
    if gaps:
        found.append(Violation("scope_exceeded",
                               f"grant {grant.id} does not cover " + ", ".join(gaps)))
    if not grant.term.covers(app.term):
        found.append(Violation("term_exceeded", f"the term goes beyond grant {grant.id}'s term"))
    return found


def terms_must_be_well_formed(app: Application) -> list[Violation]:
    if app.term.valid_to is not None and app.term.valid_to <= app.term.valid_from:
        return [Violation("term_invalid", "valid_to must be after valid_from")]
    return []


REFUSALS: tuple[Rule, ...] = (
    terms_must_be_well_formed,
    core_data_is_never_registered,
    disputed_subjects_wait_for_resolution,
    personal_information_needs_a_lawful_basis,
    holding_rights_need_source_legality_evidence,
    holding_rights_belong_to_the_resource_holder,
    parents_must_exist,
    parents_must_fit_the_kind,
    parents_must_be_registered_and_in_term,
    parents_must_cover_the_child,
    parents_must_be_held_or_granted,
    grants_must_be_live_and_cover_the_right,
)


def refusals(app: Application, rules: Iterable[Rule] = REFUSALS) -> list[Violation]:
    """Every automatic refusal that applies to ``app`` (empty: it may go to review)."""
    return [violation for rule in rules for violation in rule(app)]
