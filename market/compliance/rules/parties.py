"""The parties themselves: their documents (主体资格), relations (关联交易) and credit
(信用评价)."""

from __future__ import annotations
