"""A market built through the client alone: parties (made through the services, as every
API test makes them), then a rights chain, a listed product and trades, each step by the
party that takes it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from market_client import Client

from tests.client.conftest import Exchange
from tests.conftest import START, Party

PRICE = 100_000  # 1,000.00 CNY
ALWAYS = "2026-01-01T00:00:00+00:00"
GRANT_FROM, GRANT_TO = "2026-11-01T00:00:00+00:00", "2027-11-01T00:00:00+00:00"
PURPOSES, SCENARIOS = ["客流统计", "线路优化"], ["交通规划"]
CONTENT = "站点,小时,客流\n".encode() + b"".join(
    f"S{n:04d},{n % 24:02d},{(n * 37) % 1000}\n".encode() for n in range(20_000))
SHA256 = hashlib.sha256(CONTENT).hexdigest()
COMMITMENT: dict[str, Any] = {
    "purpose": "公交线路优化评估", "purposes": ["客流统计"], "scenarios": SCENARIOS,
    "cross_border": False, "destination": None, "security_measures": ["加密存储"],
    "no_onward_transfer": True, "no_reidentification": True, "commitments": [],
}
DECLARATION: dict[str, Any] = {
    "statement": "本公司承诺数据来源合法、权属清晰，不含个人信息和核心数据。",
    "source_is_lawful": True, "source_basis": "licensed", "source_evidence_sha256": [],
    "contains_personal_information": False, "personal_information_basis": "none",
    "personal_information_evidence_sha256": [], "contains_important_data": False,
    "contains_core_data": False, "cross_border": False, "security_assessment_ref": None,
    "third_party_rights_cleared": True, "security_measures": ["分级访问控制", "传输加密"],
    "scenarios": SCENARIOS, "onward_transfer_commitment": True, "commitments": [],
}
DAY = {"start": "2026-11-20T00:00:00+00:00", "end": "2026-11-23T00:00:00+00:00"}
assert DAY["start"] < START.isoformat() < DAY["end"]


def evidence() -> dict[str, Any]:
    content = "source_legality: 公交集团票务系统数据采集协议".encode()
    return {"kind": "source_legality", "name": "采集协议.pdf", "media_type": "application/pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode()}


def scope(**changes: Any) -> dict[str, Any]:
    return {"purposes": PURPOSES, "scenarios": SCENARIOS, "territory": "domestic",
            "valid_from": GRANT_FROM, "valid_to": GRANT_TO, **changes}


@dataclass
class World:
    """The cast (operator, holder and processor merchants, buyers, a regulator), each with
    its own client, and what they built."""

    exchange: Exchange
    make_party: Callable[..., Party]
    parties: dict[str, Party] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)

    def party(self, name: str, role: str) -> Party:
        if name not in self.parties:
            self.parties[name] = self.make_party(role, name=f"{name} 有限公司")
        return self.parties[name]

    def as_(self, name: str, role: str | None = None) -> Client:
        """The client of the party called ``name`` (made with ``role`` on first use)."""
        if name not in self.clients:
            self.clients[name] = self.exchange.client(self.party(name, role or name))
        return self.clients[name]

    @property
    def operator(self) -> Client:
        return self.as_("operator")

    @property
    def regulator(self) -> Client:
        return self.as_("regulator")

    # -- steps -------------------------------------------------------------------------------

    def approve(self, kind: str, subject_id: str, decision: str) -> Any:
        """The operator finds the subject in the review queue, claims it and decides."""
        queue = self.operator.reviews
        item = next(i for i in queue.iter(kind=kind, status="open")
                    if i["subject_id"] == subject_id)
        queue.claim(item)
        return queue.decide(item["id"], decision, "材料齐全，权属清晰")

    def listed_product(self) -> dict[str, str]:
        """holder: resource and holding right → grant to the processor → processing use and
        product operation rights → the processor's product, reviewed and listed."""
        holder = self.as_("holder", "merchant")
        processor = self.as_("processor", "merchant")
        resource = holder.rights.register_resource({
            "title": "城市公交客流数据", "description": "按站点、按小时汇总的公交刷卡客流",
            "origin": "enterprise", "classification": "general", "pi_level": "none",
            "collection_method": "闸机刷卡记录汇总", "collection_source": "公交集团票务系统",
            "scenarios": SCENARIOS, "update_frequency": "daily", "evidence": [evidence()]})
        holding = holder.rights.submit({"kind": "resource_holding",
                                        "resource_id": resource["id"],
                                        **scope(valid_from=ALWAYS, valid_to=None)})
        self.approve("right", holding["id"], "approve")
        grant = holder.rights.grant({"holding_right_id": holding["id"],
                                     "grantee_org_id": self.parties["processor"].org_id,
                                     **scope()})
        use = processor.rights.submit({"kind": "processing_use", "resource_id": resource["id"],
                                       "parent_ids": [holding["id"]], "grant_id": grant["id"],
                                       **scope()})
        self.approve("right", use["id"], "approve")
        operation = processor.rights.submit({"kind": "product_operation",
                                             "product_title": "公交客流热力图",
                                             "parent_ids": [use["id"]],
                                             **scope(purposes=["客流统计"])})
        operation = self.approve("right", operation["id"], "approve")
        product_id = operation["product_id"]
        processor.products.create({
            "product_id": product_id, "title": "公交客流热力图",
            "description": "按站点、按小时的公交客流热力数据，文件交付。", "type": "dataset",
            "development_level": "modelled", "sector": "transport", "region": "武汉",
            "update_frequency": "daily", "scenarios": SCENARIOS, "delivery_modes": ["file"],
            "derived_from": [resource["id"]],
            "terms": {"purposes": ["客流统计"], "scenarios": SCENARIOS, "duration_days": 365},
            "offers": [{"name": "标准版", "kind": "one_time", "amount": PRICE}]})
        processor.products.submit(product_id, DECLARATION)
        version = processor.products.get(product_id)["latest"]["id"]  # the queue names versions
        listed = self.approve("listing", version, "list")
        return {"product_id": product_id, "offer_id": listed["listed"]["offers"][0]["id"],
                "resource_id": resource["id"], "holding_id": holding["id"],
                "certificate": operation["certificate_number"]}

    def funded_buyer(self, name: str = "buyer", amount: int = 3 * PRICE) -> Client:
        buyer = self.as_(name, "buyer")
        self.operator.ledger.top_up(self.parties[name].org_id, amount, "CNY",
                                    f"BANK-{self.parties[name].org_id}")
        return buyer

    def delivered_order(self, listed: dict[str, str], buyer: str = "buyer",
                        content: bytes = CONTENT) -> str:
        """An order placed, paid and delivered as a file; its id."""
        client = self.funded_buyer(buyer)
        order = client.orders.place(listed["product_id"], listed["offer_id"], COMMITMENT)
        client.orders.pay(order["id"])
        self.as_("processor").orders.deliver_file(order["id"], content, filename="客流.csv",
                                                  media_type="text/csv", note="2026 年 10 月")
        return order["id"]
