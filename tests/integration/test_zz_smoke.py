from tests.integration.rights_fixtures import rights_fixture, signer_fixture  # noqa
from tests.integration.trading_fixtures import Market, market_fixture  # noqa
from tests.integration.test_listing_services import _wired  # noqa

def test_smoke(market: Market) -> None:
    order = market.trade()
    print(order.status, market.verify().as_dict())
    o = market.order(order.id)
    print(market.allocations(order.id))
    print(market.filings(order.id))
    assert o.status == "settled"
