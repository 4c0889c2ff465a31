"""Rights: data resources, the three separated rights, grants, certificates, derivation chain.

Owns data resources (数据资源) and right registrations of three kinds — resource_holding
(数据资源持有权), processing_use (数据加工使用权), product_operation (数据产品经营权) — with
their parents, scope, term, review and history; grants (授权) and certificates (登记证书).

Invariants: nothing is listed, sold or delivered without an unbroken, in-term chain
product_operation ← processing_use ← resource_holding; revoking or suspending a right
suspends everything that depends on it in the same transaction.

Calls: compliance (rules over facts passed by value), participants, receipts, kernel.
"""
