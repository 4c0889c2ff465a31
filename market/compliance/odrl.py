"""Reading a published ODRL usage policy: whether a use is permitted by it.

The listing context publishes each offer's usage terms and price as one ODRL 2.2 ``Offer``
(JSON-LD, see :mod:`market.listing.linked_data`). Ordering, matching and negotiation judge a
buyer's intended use against that very document, so what is published is what is enforced.
Only the constraints a use can break before it starts are judged here: the purpose
(``purpose isAnyOf``), the scenario (``industry isAnyOf``) and where the data may be used
(``spatial eq CN``); durations and user counts bind the use itself and are frozen into the
contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DOMESTIC = "CN"


@dataclass(frozen=True)
class Use:
    """What a buyer means to do with the data."""

    purposes: tuple[str, ...]
    scenarios: tuple[str, ...]
    cross_border: bool

    @classmethod
    def of(cls, purposes: Iterable[str] | None, scenarios: Iterable[str] | None,
           cross_border: bool | None) -> Use:
        return cls(tuple(purposes or ()), tuple(scenarios or ()), bool(cross_border))


@dataclass(frozen=True)
class Violation:
    """One constraint of the policy the use breaks: its left operand, why, and the values
    the use names that the policy does not allow."""

    constraint: str
    reason: str
    outside: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"constraint": self.constraint, "reason": self.reason,
                "outside": list(self.outside)}


def _name(value: Any) -> str:
    """A compacted or prefixed ODRL term as its local name (``odrl:purpose`` → purpose)."""
    if isinstance(value, Mapping):
        value = value.get("@id") or value.get("@value") or ""
    text = str(value)
    for sep in ("#", "/", ":"):
        text = text.rsplit(sep, 1)[-1]
    return text


def _get(node: Mapping[str, Any], key: str) -> Any:
    return node.get(key, node.get(f"odrl:{key}"))


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    return [str(v.get("@value", v.get("@id", "")) if isinstance(v, Mapping) else v)
            for v in items]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def constraints(policy: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    """``(left operand, operator, values)`` of every constraint on the policy's ``use``
    permissions."""
    found = []
    for permission in _list(_get(policy, "permission")):
        actions = {_name(a) for a in _list(_get(permission, "action"))}
        if "use" not in actions:
            continue
        for constraint in _list(_get(permission, "constraint")):
            found.append((_name(_get(constraint, "leftOperand")),
                          _name(_get(constraint, "operator")),
                          _values(_get(constraint, "rightOperand"))))
    return found


def violations(policy: Mapping[str, Any], use: Use) -> list[Violation]:
    """Every constraint of ``policy`` that ``use`` breaks (empty: the use is permitted).

    A policy with no ``use`` permission permits nothing.
    """
    if not any("use" in {_name(a) for a in _list(_get(p, "action"))}
               for p in _list(_get(policy, "permission"))):
        return [Violation("permission", "the policy permits no use")]
    found: list[Violation] = []
    for left, operator, allowed in constraints(policy):
        if left == "purpose" and operator == "isAnyOf":
            outside = tuple(p for p in use.purposes if p not in allowed)
            if not use.purposes:
                found.append(Violation("purpose", "no purpose is named; the policy permits "
                                       + "、".join(allowed)))
            elif outside:
                found.append(Violation("purpose", "purposes the policy does not permit: "
                                       + ", ".join(outside), outside))
        elif left == "industry" and operator == "isAnyOf":
            outside = tuple(s for s in use.scenarios if s not in allowed)
            if outside:
                found.append(Violation("industry", "scenarios the policy does not permit: "
                                       + ", ".join(outside), outside))
        elif left == "spatial" and operator == "eq" and use.cross_border and (
            allowed != [] and allowed[0] == DOMESTIC
        ):
            found.append(Violation("spatial", "the policy permits use in China only"))
    return found
