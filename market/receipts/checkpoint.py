"""Checkpoints of the receipts log: C2SP tlog-checkpoint text in a C2SP signed note.

A checkpoint commits the log to its tree at one size. Its note text (c2sp.org/tlog-checkpoint)
is, each line ending in a newline (U+000A)::

    <origin>                      the log's name, f"{MARKET_RECEIPT_LOG_ORIGIN}/{suite}"
    <tree size>                   decimal, no leading zeros
    <root>                        standard base64 of the 32-byte RFC 9162 root (SHA-256 / SM3)
    suite <suite>                 extension line: secp256k1-sha256 or sm2-sm3
    time <unix seconds>           extension line: when the log signed it

followed, as c2sp.org/signed-note requires, by a blank line and one signature line::

    — <origin> <base64(key ID || signature)>

The key name is the origin. The key ID is the four big-endian bytes
SHA-256(key name || 0x0A || signature type || public key)[:4], as signed-note recommends.

Signature types. signed-note assigns identifier bytes to Ed25519 (0x01), ECDSA on NIST curves
(0x02) and a few cosignature formats, none of which fit our suites; for those it says: "0xff —
Reserved for signature types without an identifier byte assigned by this specification. It is
RECOMMENDED that this byte be followed by a longer identifier that is unlikely to collide."
So the signature type of our notes is the byte 0xff followed by the ASCII identifier
``market-receipts/<suite>``:

* ``0xff "market-receipts/secp256k1-sha256"``: ECDSA on secp256k1 over SHA-256(note text),
  65 bytes r || s || v (v 27 or 28, s in the lower half of the group order). The public key in
  the key ID (and in a vkey) is the signer's 20-byte Ethereum address: the verifier recovers
  the key from the signature and compares addresses.
* ``0xff "market-receipts/sm2-sm3"``: SM2 with SM3 over the note text (GB/T 32918.2, Z over
  the default user id "1234567812345678"), 64 bytes r || s. The public key is the 65-byte
  uncompressed point 0x04 || x || y.

The log signs with the receipt key, so a checkpoint's signer is the receipts' signer. The
matching verifier key is ``<origin>+<hex key ID>+<base64(0xff || identifier || public key)>``
(:func:`market.receipts.verifier.vkey`). Parsing and checking live in
:mod:`market.receipts.verifier` (``parse_note``, ``parse_checkpoint``, ``open_checkpoint``).
"""

from __future__ import annotations

import base64

from market.receipts.suites import Suite
from market.receipts.verifier import (
    HASH_SIZE,
    SIGNATURE_TYPES,
    Checkpoint,
    NoteError,
    is_key_name,
    note_key_id,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    signature_line,
    vkey,
)

__all__ = ["SIGNATURE_TYPES", "Checkpoint", "NoteError", "format_checkpoint", "open_checkpoint",
           "parse_checkpoint", "parse_note", "sign_checkpoint", "vkey"]


def format_checkpoint(origin: str, size: int, root: bytes, suite: str, time: int) -> bytes:
    """The note text of the checkpoint of ``origin``'s tree of ``size`` leaves.

    Raises:
        ValueError: an origin that cannot name the log key, a negative size or time, a root
            that is not 32 bytes, or an unknown suite.
    """
    if not is_key_name(origin):
        raise ValueError(f"the origin {origin!r} names the log key: no spaces, no plus")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**64:
        raise ValueError(f"tree size {size!r} is not a uint64")
    if isinstance(time, bool) or not isinstance(time, int) or not 0 <= time < 2**64:
        raise ValueError(f"time {time!r} is not unix seconds")
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise ValueError(f"a root is {HASH_SIZE} bytes")
    if suite not in SIGNATURE_TYPES:
        raise ValueError(f"unknown suite {suite!r}")
    encoded_root = base64.b64encode(root).decode("ascii")
    return f"{origin}\n{size}\n{encoded_root}\nsuite {suite}\ntime {time}\n".encode()


def sign_checkpoint(suite_signer: Suite, origin: str, size: int, root: bytes, time: int) -> str:
    """The signed note of the checkpoint, signed by ``suite_signer`` under the key name
    ``origin``."""
    text = format_checkpoint(origin, size, root, suite_signer.name, time)
    kid = note_key_id(suite_signer.name, origin, suite_signer.identity)
    signature = suite_signer.sign_note(text)
    return text.decode() + "\n" + signature_line(origin, kid, signature)
