"""Declarations and the rule engine, as plain values.

Declaration templates (数据流通交易声明和承诺制) are versioned: a signed declaration names the
template it answers (``listing@1``), so a later template never changes what an old
declaration meant. Rules are small named functions over :class:`Facts` that the calling
context gathers and passes in by value; each returns a :class:`Verdict`, and the strictest
verdict is the outcome. The rule set has a version, stored with every decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from market.compliance import odrl

RULESET_VERSION = "2026.12-1"


class DeclarationKind(StrEnum):
    LISTING = "listing"  # a seller's listing declaration (挂牌声明)
    PURCHASE = "purchase"  # a buyer's purchase commitment (购买承诺)
    ADMISSION = "admission"  # a participant's admission commitment (入场承诺)
    DESTRUCTION = "destruction"  # a buyer's destruction declaration (销毁声明)


@dataclass(frozen=True)
class Template:
    """What a declaration of one kind asks and what the declarant commits to."""

    kind: DeclarationKind
    version: int
    title: str
    title_en: str
    commitments: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.kind.value}@{self.version}"


TEMPLATES: dict[str, Template] = {t.id: t for t in (
    Template(DeclarationKind.LISTING, 1, "数据产品挂牌声明和承诺", "Listing declaration", (
        "数据来源合法，已如实提供来源合法性证明材料。",
        "涉及个人信息的，已取得个人同意或已作匿名化处理，并如实提供相应记录。",
        "不包含核心数据；包含重要数据的，已如实申报，出境前已完成安全评估。",
        "不侵犯第三方的知识产权、商业秘密等合法权益。",
        "已采取与数据分类分级相适应的安全保护措施。",
        "按声明的应用场景和使用条件提供数据产品，并督促买方遵守转让限制。",
    )),
    Template(DeclarationKind.PURCHASE, 1, "数据产品购买承诺", "Purchase commitment", (
        "仅在声明的用途和应用场景内使用数据产品。",
        "未经许可不转让、不转售、不向第三方提供。",
        "不以数据产品识别特定自然人，不尝试重新识别匿名化数据。",
        "采取与数据分类分级相适应的安全保护措施。",
        "如需出境使用，已如实申报并完成所需的安全评估。",
    )),
    Template(DeclarationKind.ADMISSION, 1, "数据交易主体入场承诺", "Admission commitment", (
        "提交的主体资格材料真实、准确、完整。",
        "遵守数据交易场所的交易规则和数据安全、个人信息保护法律法规。",
        "未被列入严重违法失信名单。",
        "配合登记备案、合规审查和监管检查。",
    )),
    Template(DeclarationKind.DESTRUCTION, 1, "数据销毁声明", "Destruction declaration", (
        "合同约定的使用期限已届满，已停止使用交付的数据产品。",
        "已销毁交付的数据及其全部副本、备份和衍生的原始数据副本，无法恢复。",
        "未向第三方留存、转让或提供交付的数据。",
        "如实说明销毁的方式和时间，并配合监管方的核查。",
    )),
)}

CURRENT_TEMPLATE: dict[DeclarationKind, Template] = {}
for _template in TEMPLATES.values():
    _current = CURRENT_TEMPLATE.get(_template.kind)
    if _current is None or _template.version > _current.version:
        CURRENT_TEMPLATE[_template.kind] = _template


class SourceBasis(StrEnum):
    SELF_COLLECTED = "self_collected"  # 自行采集
    PUBLIC_DATA_AUTHORISED = "public_data_authorised"  # 公共数据授权运营
    LICENSED = "licensed"  # 经授权取得
    PURCHASED = "purchased"  # 交易取得
    DERIVED = "derived"  # 加工形成


class PIBasis(StrEnum):
    NONE = "none"  # no personal information
    CONSENT = "consent"  # 个人同意
    ANONYMISATION = "anonymisation"  # 匿名化处理


class BreachSeverity(StrEnum):
    MINOR = "minor"
    SERIOUS = "serious"
    GRAVE = "grave"


# Points a breach takes from the declarant's credit record (信用记录), which starts at 100.
BREACH_POINTS = {BreachSeverity.MINOR: 5, BreachSeverity.SERIOUS: 20, BreachSeverity.GRAVE: 50}
FULL_CREDIT = 100


def credit_score(severities: list[BreachSeverity]) -> int:
    return max(0, FULL_CREDIT - sum(BREACH_POINTS[s] for s in severities))


# -- the rule engine -----------------------------------------------------------------------


class Stage(StrEnum):
    LISTING = "listing"  # listing submission
    ORDER = "order"  # order placement
    DELIVERY = "delivery"
    MATCH = "match"  # screening a listing for a demand or a negotiated offer


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105  (an outcome, not a password)
    NEEDS_REVIEW = "needs_review"
    NEEDS_ASSESSMENT = "needs_assessment"
    BLOCK = "block"


SEVERITY = [Outcome.PASS, Outcome.NEEDS_REVIEW, Outcome.NEEDS_ASSESSMENT, Outcome.BLOCK]

PERSONAL_LEVELS = frozenset({"deidentified", "personal", "sensitive_personal"})
CLASSIFICATION_ORDER = ["general", "important", "core"]
PI_ORDER = ["none", "anonymised", "deidentified", "personal", "sensitive_personal"]


@dataclass(frozen=True)
class PartyFacts:
    org_id: str
    status: str  # participants' status: applied, admitted, suspended, exited, blacklisted
    roles: frozenset[str]
    # The scopes of the party's in-term public-data authorisations ({id, categories,
    # resource_ids, scenarios}); None where the caller did not gather them.
    public_data_scopes: tuple[Mapping[str, Any], ...] | None = None
    # The kinds of its verified admission documents (主体资格) that have expired unrenewed;
    # None where the caller did not gather them.
    expired_documents: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ProductFacts:
    """What the rights registrations say about the data behind a product."""

    classification: str  # the highest of its resources: general / important / core
    pi_level: str  # the highest of its resources (PI_ORDER)
    consent_evidence: bool  # every personal resource has consent evidence
    anonymisation_evidence: bool  # every anonymised resource has anonymisation evidence
    security_assessment: bool  # a security assessment is on record for its resources
    scenarios: tuple[str, ...]
    cross_border_allowed: bool  # its usage terms allow use abroad
    # (resource id, public-data category) of each public-data resource behind it
    public_resources: tuple[tuple[str, str], ...] = ()
    development_level: str | None = None  # the listing's: raw, desensitised, …
    sensitive_categories: tuple[str, ...] = ()  # of its resources: minors, health, …
    storage_locations: tuple[str, ...] = ()  # countries its resources and version are in

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "classification": self.classification, "pi_level": self.pi_level,
            "consent_evidence": self.consent_evidence,
            "anonymisation_evidence": self.anonymisation_evidence,
            "security_assessment": self.security_assessment,
            "scenarios": list(self.scenarios),
            "cross_border_allowed": self.cross_border_allowed}
        if self.public_resources:
            found["public_resources"] = [list(p) for p in self.public_resources]
        if self.development_level is not None:
            found["development_level"] = self.development_level
        if self.sensitive_categories:
            found["sensitive_categories"] = list(self.sensitive_categories)
        if self.storage_locations:
            found["storage_locations"] = list(self.storage_locations)
        return found

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ProductFacts:
        return cls(classification=str(data.get("classification") or "general"),
                   pi_level=str(data.get("pi_level") or "none"),
                   consent_evidence=bool(data.get("consent_evidence", True)),
                   anonymisation_evidence=bool(data.get("anonymisation_evidence", True)),
                   security_assessment=bool(data.get("security_assessment", False)),
                   scenarios=tuple(data.get("scenarios") or ()),
                   cross_border_allowed=bool(data.get("cross_border_allowed", False)),
                   public_resources=tuple((str(p[0]), str(p[1]))
                                          for p in data.get("public_resources") or ()),
                   development_level=data.get("development_level"),
                   sensitive_categories=tuple(data.get("sensitive_categories") or ()),
                   storage_locations=tuple(data.get("storage_locations") or ()))


@dataclass(frozen=True)
class Facts:
    stage: Stage
    seller: PartyFacts
    product: ProductFacts
    chain_ok: bool
    broken_link: Mapping[str, Any] | None = None
    declaration: Mapping[str, Any] = field(default_factory=dict)  # the seller's answers
    buyer: PartyFacts | None = None
    commitment: Mapping[str, Any] | None = None  # the buyer's answers
    policy: Mapping[str, Any] | None = None  # the published ODRL policy of what is bought
    # What is priced: the offer taken or agreed ("offer"), the version's public offers
    # ("offers"), its declared cost basis ("cost_basis") and usage terms ("terms").
    pricing: Mapping[str, Any] | None = None
    # The delivery modes judged at this stage (the version's at listing, those the order
    # may be delivered by at ordering, the one used at delivery); None: not judged.
    delivery_modes: tuple[str, ...] | None = None
    # What each party did about the order's contract (signed with a registered key, declined,
    # neither), each signature checked again against the key registry; None: not judged.
    contract: Mapping[str, Any] | None = None
    # How seller and buyer are related parties (关联方): ``{"links": [...]}``, empty links
    # when they are not; None: not judged.
    related_parties: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        def party(p: PartyFacts | None) -> dict[str, Any] | None:
            if p is None:
                return None
            found: dict[str, Any] = {"org_id": p.org_id, "status": p.status,
                                     "roles": sorted(p.roles)}
            if p.public_data_scopes is not None:
                found["public_data_scopes"] = [dict(s) for s in p.public_data_scopes]
            if p.expired_documents is not None:
                found["expired_documents"] = list(p.expired_documents)
            return found
        extra: dict[str, Any] = {}
        if self.pricing is not None:
            extra["pricing"] = dict(self.pricing)
        if self.delivery_modes is not None:
            extra["delivery_modes"] = list(self.delivery_modes)
        if self.contract is not None:
            extra["contract"] = dict(self.contract)
        if self.related_parties is not None:
            extra["related_parties"] = dict(self.related_parties)
        return {
            "stage": self.stage.value, "seller": party(self.seller), "buyer": party(self.buyer),
            "product": self.product.as_dict(),
            "chain_ok": self.chain_ok,
            "broken_link": dict(self.broken_link) if self.broken_link else None,
            "declaration": dict(self.declaration),
            "commitment": dict(self.commitment) if self.commitment is not None else None,
            "policy": dict(self.policy) if self.policy is not None else None,
            **extra,
        }


class Party(Protocol):
    """What compliance needs of an organisation (participants' OrganisationFacts)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def roles(self) -> frozenset[str]: ...


class Resource(Protocol):
    """What compliance needs of a data resource (rights' ResourceProfile)."""

    @property
    def classification(self) -> str: ...
    @property
    def pi_level(self) -> str: ...
    @property
    def evidence_kinds(self) -> frozenset[str]: ...


def gather(stage: Stage, *, seller: Party, resources: Iterable[Resource],
           scenarios: Iterable[str], terms: Mapping[str, Any],
           broken_link: Mapping[str, Any] | None, declaration: Mapping[str, Any],
           buyer: Party | None = None, commitment: Mapping[str, Any] | None = None,
           policy: Mapping[str, Any] | None = None) -> Facts:
    """The facts the rules judge, from what the callers gathered by value: the parties,
    the resources behind the product (the highest classification and personal-information
    level, whether the evidence the rules ask for is on record), its scenarios and usage
    terms, the rights chain's broken link (None: unbroken), both declarations and the
    published usage policy of what the buyer takes."""
    return Facts(
        stage=stage, seller=PartyFacts(seller.id, seller.status, seller.roles),
        product=product_facts(resources, scenarios=scenarios, terms=terms),
        chain_ok=broken_link is None, broken_link=broken_link,
        declaration=dict(declaration),
        buyer=PartyFacts(buyer.id, buyer.status, buyer.roles) if buyer else None,
        commitment=dict(commitment) if commitment is not None else None,
        policy=dict(policy) if policy is not None else None,
    )


def product_facts(resources: Iterable[Resource], *, scenarios: Iterable[str],
                  terms: Mapping[str, Any]) -> ProductFacts:
    """What the rights registrations say about the data behind a product: the highest
    classification and personal-information level of its resources and whether the
    evidence the rules ask for is on record."""
    found = list(resources)
    personal = [r for r in found if r.pi_level in PERSONAL_LEVELS]
    anonymised = [r for r in found if r.pi_level == "anonymised"]
    product = ProductFacts(
        classification=max((r.classification for r in found),
                           key=CLASSIFICATION_ORDER.index, default="general"),
        pi_level=max((r.pi_level for r in found), key=PI_ORDER.index, default="none"),
        consent_evidence=all("consent" in r.evidence_kinds for r in personal),
        anonymisation_evidence=all("anonymisation" in r.evidence_kinds for r in anonymised),
        security_assessment=any("security_assessment" in r.evidence_kinds for r in found),
        scenarios=tuple(scenarios),
        cross_border_allowed=terms.get("territory") == "cross_border",
        sensitive_categories=tuple(sorted({c for r in found
                                           for c in getattr(r, "sensitive_categories", ())})),
        storage_locations=tuple(sorted({getattr(r, "storage_location", None) or "CN"
                                        for r in found})),
    )
    return product


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: Outcome
    reason: str
    detail: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome.value, "reason": self.reason,
                "detail": dict(self.detail) if self.detail else None}


Rule = Callable[[Facts], Verdict]
RULES: list[Rule] = []


def rule(fn: Callable[[Facts], tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]],
         ) -> Rule:
    """Register ``fn`` as a rule named after it (CamelCase of its sentence)."""
    name = "".join(part.capitalize() for part in fn.__name__.split("_"))

    def run(facts: Facts) -> Verdict:
        result = fn(facts)
        detail = result[2] if len(result) == 3 else None
        return Verdict(name, result[0], result[1], detail)

    run.__name__ = name
    run.__doc__ = fn.__doc__
    RULES.append(run)
    return run


def _parties(facts: Facts) -> list[tuple[str, PartyFacts]]:
    found = [("seller", facts.seller)]
    if facts.buyer is not None:
        found.append(("buyer", facts.buyer))
    return found


PASS = Outcome.PASS
BLOCK = Outcome.BLOCK


@rule
def venue_never_trades(facts: Facts) -> tuple[Outcome, str]:
    """The operator of the exchange never sells or buys (场内外分离: venue/merchant)."""
    for side, party in _parties(facts):
        if "operator" in party.roles:
            return BLOCK, f"the {side} is the exchange operator"
    return PASS, "neither side is the exchange operator"


@rule
def participants_must_be_admitted(facts: Facts) -> tuple[Outcome, str]:
    """Only admitted participants trade."""
    for side, party in _parties(facts):
        if party.status not in ("admitted", "blacklisted"):  # blacklisting has its own rule
            return BLOCK, f"the {side} is {party.status}, not admitted"
    return PASS, "every party is admitted"


@rule
def blacklisted_cannot_trade(facts: Facts) -> tuple[Outcome, str]:
    """A blacklisted participant (严重失信) never trades."""
    for side, party in _parties(facts):
        if party.status == "blacklisted":
            return BLOCK, f"the {side} is blacklisted"
    return PASS, "no party is blacklisted"


@rule
def seller_needs_operation_right_chain(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """The seller holds an unbroken, in-term chain of registered rights."""
    if facts.chain_ok:
        return PASS, "the rights chain is unbroken and in term"
    link = dict(facts.broken_link or {})
    return BLOCK, str(link.get("message") or "the rights chain is broken"), link


@rule
def core_data_is_never_tradable(facts: Facts) -> tuple[Outcome, str]:
    """Core data (核心数据) is never traded."""
    if facts.product.classification == "core":
        return BLOCK, "a resource behind the product is classified as core data"
    if facts.declaration.get("contains_core_data"):
        return BLOCK, "the seller declares core data"
    return PASS, "no core data"


@rule
def source_must_be_lawful(facts: Facts) -> tuple[Outcome, str]:
    """The seller declares a lawful source (来源合法)."""
    if facts.stage is Stage.LISTING and not facts.declaration.get("source_is_lawful"):
        return BLOCK, "the seller does not declare the source lawful"
    return PASS, "the source is declared lawful"


@rule
def personal_info_needs_consent_or_anonymisation(facts: Facts) -> tuple[Outcome, str]:
    """Personal information needs consent records, or anonymisation with its evidence."""
    pf = facts.product
    basis = facts.declaration.get("personal_information_basis", "none")
    if pf.pi_level in PERSONAL_LEVELS:
        if basis != PIBasis.CONSENT.value or not pf.consent_evidence:
            return BLOCK, (f"{pf.pi_level} information needs declared consent and consent "
                           "evidence on the registered resources")
        return PASS, "personal information with consent on record"
    if pf.pi_level == "anonymised":
        if not pf.anonymisation_evidence:
            return BLOCK, "anonymised data needs anonymisation evidence on its resources"
        return PASS, "anonymised with evidence on record"
    if facts.declaration.get("contains_personal_information") and basis == PIBasis.NONE.value:
        return BLOCK, "the seller declares personal information with no lawful basis"
    return PASS, "no personal information"


@rule
def declaration_must_agree_with_registration(facts: Facts) -> tuple[Outcome, str]:
    """What the seller declares may not understate what the rights registrations record."""
    if facts.stage is not Stage.LISTING:
        return PASS, "checked at listing"
    pf, answers = facts.product, facts.declaration
    if pf.classification == "important" and not answers.get("contains_important_data"):
        return BLOCK, "a resource is registered as important data; the declaration says none"
    if (pf.pi_level in PERSONAL_LEVELS and not answers.get("contains_personal_information")):
        return BLOCK, ("a resource is registered with personal information; the declaration "
                       "says none")
    return PASS, "the declaration agrees with the registrations"


@rule
def sensitive_personal_info_needs_review(facts: Facts) -> tuple[Outcome, str]:
    """Sensitive personal information (敏感个人信息) always goes to a human reviewer."""
    if facts.product.pi_level == "sensitive_personal":
        return Outcome.NEEDS_REVIEW, "sensitive personal information is reviewed by staff"
    return PASS, "no sensitive personal information"


@rule
def important_data_abroad_needs_security_assessment(facts: Facts) -> tuple[Outcome, str]:
    """Important data (重要数据) may go abroad only after a security assessment (出境安全评估)."""
    important = (facts.product.classification == "important"
                 or bool(facts.declaration.get("contains_important_data")))
    abroad = (bool(facts.declaration.get("cross_border"))
              or (facts.commitment is not None and bool(facts.commitment.get("cross_border"))))
    if facts.commitment is not None and facts.commitment.get("cross_border") and (
        not facts.product.cross_border_allowed
    ):
        return BLOCK, "the usage terms allow domestic use only"
    if important and abroad:
        if facts.product.security_assessment or facts.declaration.get("security_assessment_ref"):
            return PASS, "important data abroad with a security assessment on record"
        return Outcome.NEEDS_ASSESSMENT, "important data abroad needs a security assessment"
    return PASS, "no important data leaves the country"


@rule
def third_party_rights_must_be_cleared(facts: Facts) -> tuple[Outcome, str]:
    """The product does not infringe third parties' rights (知识产权、商业秘密)."""
    if facts.stage is Stage.LISTING and not facts.declaration.get("third_party_rights_cleared"):
        return BLOCK, "the seller does not declare third-party rights cleared"
    return PASS, "third-party rights are declared cleared"


@rule
def buyer_purpose_must_fit_listing_scenarios(facts: Facts) -> tuple[Outcome, str]:
    """A buyer's scenarios must be among those the listing offers (无场景不交易)."""
    if facts.commitment is None:
        return PASS, "no buyer at this stage"
    wanted = set(facts.commitment.get("scenarios") or [])
    offered = set(facts.product.scenarios)
    outside = sorted(wanted - offered)
    if not wanted:
        return BLOCK, "the buyer names no scenario"
    if outside:
        return BLOCK, "scenarios the listing does not offer: " + ", ".join(outside)
    return PASS, "the buyer's scenarios are offered"


@rule
def use_must_be_permitted_by_policy(
    facts: Facts,
) -> tuple[Outcome, str] | tuple[Outcome, str, Mapping[str, Any]]:
    """The buyer's purposes, scenarios and place of use must be permitted by the usage
    policy published for what it takes (目的限定): the same ODRL document the catalogue
    shows."""
    if facts.commitment is None or facts.policy is None or facts.stage not in (
        Stage.ORDER, Stage.MATCH
    ):
        return PASS, "judged when ordering; the contract keeps the terms"
    use = odrl.Use.of(facts.commitment.get("purposes"), facts.commitment.get("scenarios"),
                      facts.commitment.get("cross_border"))
    broken = odrl.violations(facts.policy, use)
    if broken:
        return BLOCK, "; ".join(v.reason for v in broken), {
            "violations": [v.as_dict() for v in broken]}
    return PASS, "the published usage policy permits the use"


@rule
def buyer_must_make_every_commitment(facts: Facts) -> tuple[Outcome, str]:
    """A buyer commits not to pass the data on and not to re-identify anyone (购买承诺)."""
    if facts.commitment is None:
        return PASS, "no buyer at this stage"
    missing = [name for name in ("no_onward_transfer", "no_reidentification")
               if not facts.commitment.get(name)]
    if missing:
        return BLOCK, "the buyer does not commit to " + ", ".join(missing)
    return PASS, "the buyer makes every commitment"


# The rules about the data and its use alone, without the parties or the rights chain: what
# matching screens a listing with before anyone orders (ordering applies every rule).
USE_RULES: list[Rule] = [
    core_data_is_never_tradable, personal_info_needs_consent_or_anonymisation,
    important_data_abroad_needs_security_assessment, buyer_purpose_must_fit_listing_scenarios,
    use_must_be_permitted_by_policy,
]


# What an agreement in a negotiation is judged by: the parties, the data and the use; the
# rights chain and both declarations are judged again when the agreement is ordered.
MATCH_RULES: list[Rule] = [venue_never_trades, participants_must_be_admitted,
                           blacklisted_cannot_trade, *USE_RULES]


def evaluate(facts: Facts, rules: list[Rule] | None = None) -> tuple[Outcome, list[Verdict]]:
    """Every rule's verdict, and the strictest of them as the outcome (the rules of the
    facts' stage unless ``rules`` are given: every rule, or :data:`MATCH_RULES`)."""
    if rules is None:
        rules = MATCH_RULES if facts.stage is Stage.MATCH else RULES
    verdicts = [r(facts) for r in rules]
    outcome = max((v.outcome for v in verdicts), key=SEVERITY.index, default=Outcome.PASS)
    return outcome, verdicts


def use_facts(product: ProductFacts, *, seller: PartyFacts, declaration: Mapping[str, Any],
              use: Mapping[str, Any], policy: Mapping[str, Any] | None,
              buyer: PartyFacts | None = None) -> Facts:
    """The facts of an intended use of a listing before anyone orders (stage ``match``):
    what the rules found the data to be at listing, the seller's declaration, the use
    (``purposes``, ``scenarios``, ``cross_border``) and the published policy."""
    return Facts(stage=Stage.MATCH, seller=seller, product=product, chain_ok=True,
                 declaration=dict(declaration), buyer=buyer, commitment=dict(use),
                 policy=dict(policy) if policy is not None else None)


def screen(product: ProductFacts, *, seller: PartyFacts, declaration: Mapping[str, Any],
           use: Mapping[str, Any], policy: Mapping[str, Any] | None,
           ) -> tuple[Outcome, list[Verdict]]:
    """Judge a listing for an intended use with :data:`USE_RULES`: what matching asks of
    every candidate, by the same rules ordering applies."""
    return evaluate(use_facts(product, seller=seller, declaration=declaration, use=use,
                              policy=policy), USE_RULES)


def rule_names() -> list[str]:
    return [r.__name__ for r in RULES]


# The rules of the later chapters register themselves when their modules load.
from market.compliance.rules import contracts, delivery, parties, public_data  # noqa: E402,F401
