"""market: the backend of a data exchange (数据交易所).

The application is built by :func:`market.app.create_app`; importing this package has no
side effects.
"""

__all__: list[str] = []
