"""Matching: demands (需求清单), match scoring, quotes and negotiation, private offers, brokers.

Owns buyers' demands, negotiations (requested → offered ⇄ countered → agreed → order |
terminated) and brokers' recorded commissions.

Calls: listing, trading, participants, kernel. Nothing below depends on it.
"""
