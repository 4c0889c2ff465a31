"""Receipts: canonical receipts, signatures, Merkle log, optional EVM chain anchoring.

Owns receipts for any subject (by type and id), their EIP-712 signatures, the Merkle log
and anchoring batches (open → sealed → submitted → included → finalized; reorged →
resubmitted).

Invariant: a receipt proves itself — signature, Merkle inclusion and, when anchoring is on,
the anchored root can be checked without trusting the platform's API.

Calls: the kernel only; it knows no context.
"""
