"""The stand-alone verifier of receipts.

It imports nothing of the app but the canonical encoding (``market.kernel.canonical``) and
crypto libraries, so this one file can be copied out and run alone to check a receipt, its
Merkle inclusion in the log and the log's checkpoint without trusting the platform.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.datatypes import Signature as EcdsaSignature
from eth_utils.crypto import keccak
from gmssl import sm2 as _gm_sm2
from gmssl import sm3 as _gm_sm3

try:
    from market.kernel.canonical import dumps
except ImportError:  # copied out of the project: the same RFC 8785 bytes from the library
    from rfc8785 import dumps  # type: ignore[assignment]

# --- Merkle proofs (RFC 9162 §2.1) ---
#
# Pure functions over a 32-byte hash ``h`` (SHA-256 or SM3). Leaves are hashed as
# ``h(0x00 || data)``, interior nodes as ``h(0x01 || left || right)``, the empty tree as
# ``h(b"")``. The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and never
# raise: any malformed input (bad index or size, wrong proof length, wrong element type or
# length) makes them return False.

Hash = Callable[[bytes], bytes]
"""A hash function returning a 32-byte digest (SHA-256, SM3)."""

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(h: Hash, data: bytes) -> bytes:
    """The RFC 9162 hash of a leaf holding ``data``: ``h(0x00 || data)``."""
    return h(_LEAF_PREFIX + data)


def node_hash(h: Hash, left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``h(0x01 || left || right)``."""
    return h(_NODE_PREFIX + left + right)


def empty_root(h: Hash) -> bytes:
    """The root of the empty tree: ``h(b"")``."""
    return h(b"")


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_digest(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_path(proof: object) -> bool:
    return isinstance(proof, Sequence) and not isinstance(proof, bytes | str) and all(
        _is_digest(p) for p in proof
    )


def root_from_inclusion(
    h: Hash, leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes | None:
    """The root that ``proof`` yields for ``leaf_hash`` at ``leaf_index`` in ``tree_size``.

    RFC 9162 §2.1.3.2 steps 1-4 and the size check of step 5; None when the proof cannot
    belong to a tree of that size (index out of range, too short or too long a path).
    """
    if not (_is_size(leaf_index) and _is_size(tree_size) and _is_digest(leaf_hash)):
        return None
    if not _is_path(proof) or leaf_index >= tree_size:
        return None
    fn, sn = leaf_index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(h, p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(h, r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    h: Hash,
    leaf_index: int,
    tree_size: int,
    leaf_hash: bytes,
    proof: Sequence[bytes],
    root: bytes,
) -> bool:
    """Whether ``proof`` shows the leaf ``leaf_hash`` at ``leaf_index`` in the tree
    of ``tree_size`` leaves whose root is ``root`` (RFC 9162 §2.1.3.2)."""
    if not _is_digest(root):
        return False
    computed = root_from_inclusion(h, leaf_index, tree_size, leaf_hash, proof)
    return computed is not None and computed == root


def verify_consistency(
    h: Hash,
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
) -> bool:
    """Whether ``proof`` shows the tree of ``size1`` leaves with ``root1`` is a prefix of
    the tree of ``size2`` leaves with ``root2`` (RFC 9162 §2.1.4.2).

    The two cases §2.1.4.2 leaves out follow §2.1.4.1, where no proof is defined for them:
    equal sizes need an empty proof and equal roots; the empty tree (whose root must be
    ``h(b"")``) is a prefix of every tree, with an empty proof.
    """
    if not (_is_size(size1) and _is_size(size2) and _is_digest(root1) and _is_digest(root2)):
        return False
    if not _is_path(proof) or size1 > size2:
        return False
    if size1 == 0:
        return len(proof) == 0 and root1 == empty_root(h)
    if size1 == size2:
        return len(proof) == 0 and root1 == root2
    # 1. An empty path fails.
    if len(proof) == 0:
        return False
    path = list(proof)
    # 2. A first tree that is a perfect subtree is its own first path element.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # 3.-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(h, c, fr)
            sr = node_hash(h, c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(h, sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return sn == 0 and fr == root1 and sr == root2


# --- end of Merkle proofs ---


# --- Suites ---
#
# A suite fixes the hash H of receipt bodies and of the Merkle log, and how receipts and
# checkpoints are signed:
#
# * secp256k1-sha256: H = SHA-256. A receipt signature is the EIP-712 typed data
#   ``Receipt(string kind, string subject, bytes32 digest, uint64 issuedAt)`` under the domain
#   {name: "market", version: "1"}: "0x" + 65 bytes r||s||v (v 27 or 28, low s) in hex, by a
#   checksummed address. A note signature is ECDSA over SHA-256(text), the same 65 bytes.
# * sm2-sm3: H = SM3. Receipts (over the 32 raw digest bytes) and notes (over the text) carry
#   SM2 signatures with SM3 (GB/T 32918.2: e = SM3(Z || M), Z over the default user id
#   "1234567812345678"), r||s in 64 bytes (hex without "0x" in a receipt), by the public key
#   "04" || x || y in hex.
#
# Only the one form issued is accepted (low s, r and s in range, exact lengths), so a
# signature cannot be rewritten into another one that also verifies. The functions here never
# raise on malformed input: they return False.

SECP256K1_SHA256 = "secp256k1-sha256"
SM2_SM3 = "sm2-sm3"
SUITES: tuple[str, ...] = (SECP256K1_SHA256, SM2_SM3)

EIP712_DOMAIN: dict[str, Any] = {"name": "market", "version": "1"}
EIP712_TYPES: dict[str, Any] = {
    "Receipt": [
        {"name": "kind", "type": "string"},
        {"name": "subject", "type": "string"},
        {"name": "digest", "type": "bytes32"},
        {"name": "issuedAt", "type": "uint64"},
    ]
}

# secp256k1 group order: a canonical signature has s in the lower half (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# The SM2 recommended curve y² = x³ + ax + b over F_p (GB/T 32918.5).
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
SM2_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
SM2_DEFAULT_ID = b"1234567812345678"
"""The user id of GB/T 32918.2's Z when the parties agree on none (GM/T 0009)."""

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX = re.compile(r"[0-9a-fA-F]*")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sm3_gmssl(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data`` in pure Python (gmssl): about 0.4 ms a call."""
    return bytes.fromhex(_gm_sm3.sm3_hash(list(data)))


def _openssl_sm3() -> Hash | None:
    """SM3 from OpenSSL through hashlib (OpenSSL 1.1.1 and 3.x build it in), if this
    Python's OpenSSL has it and it gives the standard's digest of "abc"."""
    try:
        hashlib.new("sm3", b"abc")
    except ValueError:
        return None

    def sm3_openssl(data: bytes) -> bytes:
        return hashlib.new("sm3", data).digest()

    if sm3_openssl(b"abc") != sm3_gmssl(b"abc"):  # pragma: no cover - a broken build
        return None
    return sm3_openssl


sm3: Hash = _openssl_sm3() or sm3_gmssl
"""SM3 (GB/T 32905): OpenSSL's when it has it (hundreds of times faster), else gmssl's."""


_HASHES: dict[str, Hash] = {SECP256K1_SHA256: sha256, SM2_SM3: sm3}


def suite_hash(suite: str) -> Hash:
    """The content hash H of ``suite``: SHA-256 or SM3.

    Raises:
        ValueError: an unknown suite.
    """
    try:
        return _HASHES[suite]
    except (KeyError, TypeError):
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}") from None


def _hex_bytes(value: object, size: int) -> bytes | None:
    """The ``size`` bytes spelled by ``value`` in hex (either case), or None."""
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        return None
    return bytes.fromhex(value)


def _is_uint64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64


def is_address(value: object) -> bool:
    """Whether ``value`` is an Ethereum address: "0x" and 40 hex digits."""
    return isinstance(value, str) and _ADDRESS.fullmatch(value) is not None


def _secp256k1_signature(raw: bytes) -> EcdsaSignature | None:
    """``raw`` as a signature if it has the one form issued: r||s||v, v 27 or 28, low s."""
    if len(raw) != 65 or raw[64] not in (27, 28):
        return None
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2):
        return None
    return EcdsaSignature(vrs=(raw[64] - 27, r, s))


def _recover_address(message_hash: bytes, raw: bytes) -> str | None:
    signature = _secp256k1_signature(raw)
    if signature is None:
        return None
    try:
        public_key = signature.recover_public_key_from_msg_hash(message_hash)
    except Exception:  # eth-keys raises its own types for unrecoverable signatures
        return None
    return str(public_key.to_checksum_address())


def _i256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def sm2_point(public_key: object) -> bytes | None:
    """x || y (64 bytes) of an SM2 public key "04" || x || y in hex, or None unless that is a
    point of the curve."""
    raw = _hex_bytes(public_key, 65)
    if raw is None or raw[0] != 4:
        return None
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    if x >= SM2_P or y >= SM2_P or (y * y - (x * x * x + SM2_A * x + SM2_B)) % SM2_P:
        return None
    return raw[1:]


def sm2_digest(public_key: str, message: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """e = SM3(Z || M) of GB/T 32918.2, Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA).

    Raises:
        ValueError: ``public_key`` is not an SM2 public key.
    """
    point = sm2_point(public_key)
    if point is None:
        raise ValueError("not an SM2 public key: 04 || x || y in hex, a point of the curve")
    entl = (8 * len(user_id)).to_bytes(2, "big")
    z = sm3(entl + user_id + _i256(SM2_A) + _i256(SM2_B) + _i256(SM2_GX) + _i256(SM2_GY)
            + point)
    return sm3(z + message)


def sm2_engine(private_key: str = "", point: bytes = b"") -> Any:
    """gmssl's SM2 over the recommended curve, for the private key and the public point x || y.

    The point is set after construction: gmssl's constructor drops a leading "04" with
    ``str.lstrip``, which would also eat the first digits of an x that starts with 0 or 4.
    """
    engine = _gm_sm2.CryptSM2(private_key=private_key, public_key="")
    engine.public_key = point.hex()
    return engine


def sm2_verify(public_key: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (r||s, 64 bytes) is an SM2-with-SM3 signature of ``message`` by
    ``public_key`` under the default user id."""
    point = sm2_point(public_key)
    if point is None or not isinstance(signature, bytes) or len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    # gmssl checks neither range; with s unbounded, s + n would verify as well as s.
    if not (0 < r < SM2_N and 0 < s < SM2_N):
        return False
    try:
        e = sm2_digest(public_key, bytes(message))
        return bool(sm2_engine(point=point).verify(signature.hex(), e))
    except Exception:  # gmssl's point arithmetic fails on the point at infinity
        return False


def verify_receipt_signature(
    suite: str, kind: str, subject: str, digest_hex: str, issued_at: int, signer: str,
    value: str,
) -> bool:
    """Whether ``value`` is ``signer``'s ``suite`` signature of the receipt
    (``kind``, ``subject``, ``digest_hex``, ``issued_at``)."""
    digest = _hex_bytes(digest_hex, 32)
    if digest is None or not _is_uint64(issued_at):
        return False
    if not all(isinstance(v, str) for v in (kind, subject, signer, value)):
        return False
    if suite == SECP256K1_SHA256:
        raw = _hex_bytes(value[2:], 65) if value.startswith("0x") else None
        if raw is None or not is_address(signer) or _secp256k1_signature(raw) is None:
            return False
        message = {"kind": kind, "subject": subject, "digest": digest, "issuedAt": issued_at}
        try:
            signable = encode_typed_data(EIP712_DOMAIN, EIP712_TYPES, message)
            recovered = str(Account.recover_message(signable, signature=raw))
        except Exception:  # eth-account/eth-keys raise their own types
            return False
        return recovered.lower() == signer.lower()
    if suite == SM2_SM3:
        raw = _hex_bytes(value, 64)
        return raw is not None and sm2_verify(signer, digest, raw)
    return False


def verify_note_signature(suite: str, public_key: str, text: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the ``suite`` note signature of ``text`` by ``public_key`` (a
    checksummed address for secp256k1-sha256, "04" || x || y in hex for sm2-sm3)."""
    if suite == SECP256K1_SHA256:
        if not is_address(public_key) or not isinstance(text, bytes):
            return False
        recovered = _recover_address(sha256(text), signature)
        return recovered is not None and recovered.lower() == public_key.lower()
    if suite == SM2_SM3:
        return sm2_verify(public_key, text, signature)
    return False


# --- end of Suites ---


# --- Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) ---
#
# A checkpoint is a C2SP signed note (c2sp.org/signed-note) whose text is a C2SP checkpoint
# (c2sp.org/tlog-checkpoint): origin, tree size, base64 root, then the extension lines
# ``suite <suite>`` and ``time <unix seconds>``. The log signs it with the receipt key; the
# key name is the origin. Our two signature types have no byte assigned by signed-note, so
# they use its 0xff escape followed by a longer identifier (see SIGNATURE_TYPES); the key ID is
# the recommended SHA-256(key name || 0x0A || signature type || public key)[:4], where the
# public key is the 20-byte address (secp256k1-sha256: ECDSA recovery makes the address
# enough to verify) or the 65-byte point 04 || x || y (sm2-sm3).

NOTE_SIGNATURE_PREFIX = "\u2014 "
"""Em dash and space: the start of every signature line."""
MAX_NOTE_SIGNATURES = 100
"""Signature lines read from one note (signed-note asks verifiers to accept at least 16)."""
ED25519_SIGNATURE_TYPE = b"\x01"
UNASSIGNED_SIGNATURE_TYPE = b"\xff"
SIGNATURE_TYPES: dict[str, bytes] = {
    suite: UNASSIGNED_SIGNATURE_TYPE + b"market-receipts/" + suite.encode() for suite in SUITES
}
"""Signature type of each suite's note signatures: 0xff || "market-receipts/<suite>"."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note or checkpoint that is malformed, or not signed by the expected key."""


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the key ID."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A signed note: its text (with the final newline) and its signature lines, in order."""

    text: bytes
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's text: origin, tree size, root and the extension lines (``suite`` and
    ``time`` read out of them; None when absent)."""

    origin: str
    tree_size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    suite: str | None = None
    time: int | None = None


def key_id(name: str, signature_type: bytes, public_key: bytes) -> int:
    """The signed-note key ID: SHA-256(name || 0x0A || signature type || public key)[:4], as a
    big-endian uint32."""
    digest = sha256(name.encode() + b"\n" + signature_type + public_key)
    return int.from_bytes(digest[:4], "big")


def note_public_key(suite: str, identity: str) -> bytes:
    """The public key bytes of a ``suite`` signer in its key ID and vkey: the 20-byte address
    (secp256k1-sha256) or 04 || x || y (sm2-sm3).

    Raises:
        NoteError: an unknown suite, or an identity that is not a key of the suite.
    """
    if suite == SECP256K1_SHA256 and is_address(identity):
        return bytes.fromhex(identity[2:])
    if suite == SM2_SM3 and sm2_point(identity) is not None:
        return bytes.fromhex(identity)
    raise NoteError(f"{identity!r} is not a {suite!r} public key")


def note_key_id(suite: str, name: str, identity: str) -> int:
    """The key ID of ``identity``'s ``suite`` signatures under the key name ``name``."""
    return key_id(name, SIGNATURE_TYPES[suite], note_public_key(suite, identity))


def is_key_name(name: object) -> bool:
    """Whether ``name`` can name a key: non-empty, no Unicode space, no plus."""
    return (isinstance(name, str) and name != "" and "+" not in name
            and not any(c.isspace() for c in name))


def vkey(suite: str, name: str, identity: str) -> str:
    """The verifier key ``<name>+<hex key ID>+<base64(signature type || public key)>``."""
    if not is_key_name(name):
        raise NoteError(f"{name!r} cannot name a key")
    material = SIGNATURE_TYPES[suite] + note_public_key(suite, identity)
    return f"{name}+{note_key_id(suite, name, identity):08x}+{_b64(material)}"


def parse_vkey(encoded: str) -> tuple[str, int, bytes]:
    """Name, key ID and ``signature type || public key`` of a verifier key; the key ID must
    be the hash of the other two.

    Raises:
        NoteError: a malformed verifier key.
    """
    name, _, rest = encoded.partition("+")
    hex_id, _, material_b64 = rest.partition("+")
    material = _unb64(material_b64)
    if not is_key_name(name) or len(hex_id) != 8 or not _HEX.fullmatch(hex_id) or not material:
        raise NoteError(f"malformed verifier key {encoded!r}")
    kid = int(hex_id, 16)
    if kid != key_id(name, b"", material):
        raise NoteError(f"verifier key {encoded!r}: the key ID is not the key's hash")
    return name, kid, material


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes | None:
    """The bytes of canonical standard base64 ``text``, or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    return raw if _b64(raw) == text else None


def signature_line(name: str, kid: int, signature: bytes) -> str:
    """``— <name> <base64(key ID || signature)>`` and a newline."""
    if not is_key_name(name):
        raise NoteError(f"{name!r} cannot name a key")
    return f"{NOTE_SIGNATURE_PREFIX}{name} {_b64(kid.to_bytes(4, 'big') + signature)}\n"


def _as_bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise NoteError(f"expected bytes, not {type(value).__name__}")
    return bytes(value)


def parse_note(note: bytes | str) -> Note:
    """The text and the signature lines of a signed note.

    Raises:
        NoteError: the note is malformed (not UTF-8, a control character other than newline,
            no blank line before the signatures, a malformed signature line, too many).
    """
    try:
        raw = note.encode() if isinstance(note, str) else _as_bytes(note)
        decoded = raw.decode()
    except UnicodeError:
        raise NoteError("a note is UTF-8 text") from None
    if any(c < " " and c != "\n" for c in decoded):
        raise NoteError("a note holds no control character but newline")
    split = raw.rfind(b"\n\n")
    if split < 0:
        raise NoteError("no blank line between the note's text and its signatures")
    text, block = raw[: split + 1], raw[split + 2 :]
    if not block.endswith(b"\n"):
        raise NoteError("a note ends with a signature line and a newline")
    lines = block[:-1].decode().split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise NoteError(f"more than {MAX_NOTE_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(NOTE_SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line!r}")
        name, _, encoded = line[len(NOTE_SIGNATURE_PREFIX) :].partition(" ")
        raw_signature = _unb64(encoded)
        if not is_key_name(name) or raw_signature is None or len(raw_signature) < 5:
            raise NoteError(f"malformed signature line: {line!r}")
        signatures.append(NoteSignature(name, int.from_bytes(raw_signature[:4], "big"),
                                        raw_signature[4:]))
    return Note(text, tuple(signatures))


def parse_checkpoint(text: bytes) -> Checkpoint:
    """A checkpoint's note text: origin, tree size, base64 root, then extension lines, of which
    ``suite <suite>`` and ``time <unix seconds>`` are read (each at most once).

    Raises:
        NoteError: the text is not a checkpoint.
    """
    try:
        decoded = _as_bytes(text).decode()
    except UnicodeError:
        raise NoteError("a checkpoint is UTF-8 text") from None
    lines = decoded[:-1].split("\n") if decoded.endswith("\n") else []
    if len(lines) < 3 or not all(lines):
        raise NoteError("a checkpoint is at least three non-empty lines, each ending in newline")
    origin, size_line, root_line, *extensions = lines
    if not _DECIMAL.fullmatch(size_line) or int(size_line) >= 2**64:
        raise NoteError(f"tree size {size_line!r} is not a decimal uint64 without leading zeros")
    root = _unb64(root_line)
    if root is None or len(root) != HASH_SIZE:
        raise NoteError(f"root {root_line!r} is not the base64 of {HASH_SIZE} bytes")
    suite: str | None = None
    time: int | None = None
    for line in extensions:
        key, _, value = line.partition(" ")
        if key == "suite":
            if suite is not None:
                raise NoteError("two suite lines")
            suite = value
        elif key == "time":
            if time is not None or not _DECIMAL.fullmatch(value) or int(value) >= 2**64:
                raise NoteError(f"malformed or repeated time line {line!r}")
            time = int(value)
    return Checkpoint(origin, int(size_line), root, tuple(extensions), suite, time)


def open_checkpoint(note: bytes | str, *, suite: str, origin: str, public_key: str) -> Checkpoint:
    """The checkpoint in ``note``, once the log key has signed it.

    The log key is ``public_key`` under the key name ``origin`` and the signature type of
    ``suite``. Signatures by other keys (witnesses, a rotated key) are ignored, as
    signed-note requires; every signature by the log key must verify, and there must be one.
    The checkpoint must then name ``origin`` and ``suite`` and carry a time.

    Raises:
        NoteError: the note is malformed, unsigned by the log key, or not this log's.
    """
    parsed = parse_note(note)
    if suite not in SIGNATURE_TYPES:
        raise NoteError(f"unknown suite {suite!r}")
    kid = note_key_id(suite, origin, public_key)
    own = [s for s in parsed.signatures if s.name == origin and s.key_id == kid]
    if not own:
        raise NoteError(f"no signature by the log key {origin}+{kid:08x}")
    if not all(verify_note_signature(suite, public_key, parsed.text, s.signature) for s in own):
        raise NoteError(f"the signature by the log key {origin}+{kid:08x} does not verify")
    checkpoint = parse_checkpoint(parsed.text)
    if checkpoint.origin != origin:
        raise NoteError(f"the checkpoint's origin is {checkpoint.origin!r}, not {origin!r}")
    if checkpoint.suite != suite:
        raise NoteError(f"the checkpoint's suite is {checkpoint.suite!r}, not {suite!r}")
    if checkpoint.time is None:
        raise NoteError("the checkpoint has no time line")
    return checkpoint


# --- end of Signed notes and checkpoints ---


# --- Bundles ---
#
# A proof bundle (format market.receipt-proof/v1) holds a receipt, its place in the log with
# an inclusion proof and the signed checkpoint it leads to, and, once anchored, the chain
# transaction that published that checkpoint's root. verify_bundle checks it part by part and
# reports every part, in order: format, body, signature, signer, log, checkpoint, inclusion,
# anchor. A part that cannot be checked because one it rests on failed is reported failed
# ("not checked: ..."), so ``failed`` names the first real failure.
#
# A receipt not yet in the log (``"log": null``) is *pending*: the log part says so and is
# ok, checkpoint and inclusion are skipped (ok), and the report is ok when every other part
# is, with ``pending`` set. A pending receipt is signed but not yet provably in the log; ask
# for the proof again after the log has sequenced it. An absent anchor is ok too (anchoring
# is periodic); a present one must match the checkpoint and, given an RPC URL, the chain.
#
# Run alone: ``python verifier.py BUNDLE.json [--signer KEY] [--rpc URL]
# [--min-confirmations N]`` prints the report as JSON and exits 0 when it is ok, 1 if not.

BUNDLE_FORMAT = "market.receipt-proof/v1"
RECEIPT_BODY_VERSION = 1
PARTS: tuple[str, ...] = (
    "format", "body", "signature", "signer", "log", "checkpoint", "inclusion", "anchor",
)
NOT_PINNED = "not pinned: pass the platform's key to trust it"
ANCHORED_EVENT = "Anchored(uint64,bytes32,uint64)"
ANCHORED_TOPIC = "0x" + keccak(text=ANCHORED_EVENT).hex()
RPC_TIMEOUT = 10.0
_MAX_RPC_RESPONSE = 16 * 2**20
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")


@dataclass(frozen=True)
class Part:
    """One checked part of a bundle: whether it holds, and why (or why not)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Report:
    """The verdict on a bundle: every part in order; ``pending`` when not yet logged."""

    parts: list[Part]
    pending: bool = False

    @property
    def ok(self) -> bool:
        return all(part.ok for part in self.parts)

    @property
    def failed(self) -> str | None:
        """The name of the first part that failed, or None."""
        return next((part.name for part in self.parts if not part.ok), None)

    @property
    def status(self) -> str:
        """``verified``, ``pending`` (ok but not logged yet) or ``failed``."""
        if not self.ok:
            return "failed"
        return "pending" if self.pending else "verified"

    def part(self, name: str) -> Part:
        return next(part for part in self.parts if part.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "failed": self.failed,
                "parts": [{"name": p.name, "ok": p.ok, "detail": p.detail}
                          for p in self.parts]}


class _Failed(Exception):
    """A part does not hold; the message says why."""


class RpcError(Exception):
    """A JSON-RPC call that failed or answered with an error."""


@dataclass(frozen=True)
class Anchor:
    """Where a checkpoint's root was published: the ``Anchored`` event of a transaction."""

    chain_id: int
    contract: str
    batch_id: int
    tree_size: int
    root: bytes
    tx_hash: str
    block_number: int
    block_hash: str


@dataclass(frozen=True)
class _LogEntry:
    origin: str
    suite: str
    public_key: str
    leaf_index: int
    tree_size: int
    proof: list[bytes]
    checkpoint: str


@dataclass
class _Bundle:
    """What the parts share; later parts read what earlier ones established."""

    body: Mapping[str, Any]
    digest: str
    suite: str
    signer: str
    value: str
    log: Mapping[str, Any] | None
    anchor: Mapping[str, Any] | None
    entry: _LogEntry | None = None
    checkpoint: Checkpoint | None = None


def _need(condition: bool, detail: str) -> None:
    if not condition:
        raise _Failed(detail)


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Failed(f"{what} is not an object")
    return value


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _Failed(f"{what} is not a string")
    return value


def _uint(value: object, what: str) -> int:
    if isinstance(value, int) and _is_uint64(value):
        return value
    raise _Failed(f"{what} is not a non-negative integer")


def _read_format(bundle: object) -> _Bundle:
    top = _object(bundle, "the bundle")
    _need(top.get("format") == BUNDLE_FORMAT,
          f"format is {top.get('format')!r}, expected {BUNDLE_FORMAT!r}")
    receipt = _object(top.get("receipt"), "receipt")
    body = _object(receipt.get("body"), "receipt.body")
    digest = _string(receipt.get("digest"), "receipt.digest")
    signature = _object(receipt.get("signature"), "receipt.signature")
    suite, signer, value = (_string(signature.get(k), f"receipt.signature.{k}")
                            for k in ("suite", "signer", "value"))
    _need(suite in SUITES, f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    _need("log" in top and "anchor" in top, "the bundle needs log and anchor (or null)")
    log, anchor = top["log"], top["anchor"]
    return _Bundle(body, digest, suite, signer, value,
                   None if log is None else _object(log, "log"),
                   None if anchor is None else _object(anchor, "anchor"))


def _check_body(b: _Bundle) -> str:
    body = b.body
    version = body.get("v")
    _need(type(version) is int and version == RECEIPT_BODY_VERSION,
          f"body.v is {version!r}; this verifier reads version {RECEIPT_BODY_VERSION}")
    _need(body.get("suite") == b.suite,
          f"body.suite is {body.get('suite')!r} but the signature's suite is {b.suite!r}")
    for name in ("log", "kind", "subject"):
        _need(isinstance(body.get(name), str), f"body.{name} is not a string")
    _need(_is_uint64(body.get("issued_at")), "body.issued_at is not unix seconds")
    _need("record" in body, "body has no record")
    _need(_hex_bytes(b.digest, 32) is not None and b.digest == b.digest.lower(),
          "receipt.digest is not 64 lowercase hex digits")
    try:
        canonical = dumps(dict(body))
    except Exception as exc:  # rfc8785 names what JSON cannot carry exactly
        raise _Failed(f"the body has no RFC 8785 form: {exc}") from None
    computed = suite_hash(b.suite)(canonical).hex()
    _need(computed == b.digest,
          f"receipt.digest {b.digest} is not H(canonical(body)) = {computed}")
    hash_name = "SHA-256" if b.suite == SECP256K1_SHA256 else "SM3"
    return f"digest {b.digest} = {hash_name} of the canonical body"


def _check_signature(b: _Bundle) -> str:
    kind, subject, issued_at = (b.body.get(k) for k in ("kind", "subject", "issued_at"))
    _need(isinstance(kind, str) and isinstance(subject, str) and _is_uint64(issued_at),
          "not checked: the body's kind, subject or issued_at is malformed")
    if b.suite == SECP256K1_SHA256:
        _need(is_address(b.signer), f"signer {b.signer!r} is not an address")
        _need(b.value.startswith("0x") and _hex_bytes(b.value[2:], 65) is not None,
              "the signature value is not 0x and 65 bytes in hex")
    else:
        _need(sm2_point(b.signer) is not None,
              f"signer {b.signer!r} is not an SM2 public key (04 || x || y, on the curve)")
        _need(_hex_bytes(b.value, 64) is not None,
              "the signature value is not r || s, 64 bytes in hex")
    _need(verify_receipt_signature(b.suite, str(kind), str(subject), b.digest,
                                   _uint(issued_at, "body.issued_at"), b.signer, b.value),
          f"the {b.suite} signature does not verify for signer {b.signer}")
    return f"{b.suite} signature by {b.signer}"


def _check_signer(b: _Bundle, trusted_signer: str | None) -> str:
    if trusted_signer is None:
        return NOT_PINNED
    _need(b.signer.lower() == trusted_signer.strip().lower(),
          f"signed by {b.signer}, not by the trusted key {trusted_signer}")
    return f"the trusted key {trusted_signer}"


def _read_log(b: _Bundle) -> str:
    log = b.log
    if log is None:
        return "pending: the receipt is not in the log yet; ask for the proof again later"
    origin, suite, public_key, checkpoint = (
        _string(log.get(k), f"log.{k}") for k in ("origin", "suite", "public_key", "checkpoint"))
    leaf_index, tree_size = (_uint(log.get(k), f"log.{k}") for k in ("leaf_index", "tree_size"))
    proof = log.get("inclusion_proof")
    hashes = [_hex_bytes(p, HASH_SIZE) for p in proof] if isinstance(proof, list) else [None]
    _need(all(h is not None for h in hashes),
          f"log.inclusion_proof is not a list of {HASH_SIZE}-byte hashes in hex")
    b.entry = _LogEntry(origin, suite, public_key, leaf_index, tree_size,
                        [h for h in hashes if h is not None], checkpoint)
    return f"leaf {leaf_index} of {tree_size} in {origin}"


def _check_checkpoint(b: _Bundle) -> str:
    entry = b.entry
    if entry is None:
        raise _Failed("not checked: the log entry is malformed")
    _need(entry.suite == b.suite,
          f"the log's suite is {entry.suite!r}, the receipt's {b.suite!r}")
    _need(entry.origin == b.body.get("log"),
          f"the receipt is in {entry.origin!r} but its body names the log "
          f"{b.body.get('log')!r}")
    _need(entry.public_key.lower() == b.signer.lower(),
          f"the log key {entry.public_key} is not the receipt's signer {b.signer}")
    try:
        checkpoint = open_checkpoint(entry.checkpoint, suite=entry.suite, origin=entry.origin,
                                     public_key=entry.public_key)
    except NoteError as exc:
        raise _Failed(str(exc)) from None
    _need(checkpoint.tree_size == entry.tree_size,
          f"the checkpoint is at size {checkpoint.tree_size}, the proof at {entry.tree_size}")
    b.checkpoint = checkpoint
    return (f"{checkpoint.origin} at size {checkpoint.tree_size}, root "
            f"{checkpoint.root.hex()}, time {checkpoint.time}, signed by the log key")


def _check_inclusion(b: _Bundle) -> str:
    entry, checkpoint, digest = b.entry, b.checkpoint, _hex_bytes(b.digest, 32)
    if entry is None or checkpoint is None:
        raise _Failed("not checked: no verified checkpoint to prove inclusion in")
    if digest is None:
        raise _Failed("not checked: the digest is malformed")
    h = suite_hash(b.suite)
    _need(verify_inclusion(h, entry.leaf_index, checkpoint.tree_size, leaf_hash(h, digest),
                           entry.proof, checkpoint.root),
          f"the proof does not lead from leaf {entry.leaf_index} to the checkpoint's root at "
          f"size {checkpoint.tree_size}")
    return f"leaf {entry.leaf_index} of {checkpoint.tree_size}, {len(entry.proof)} hashes"


def read_anchor(anchor: Mapping[str, Any]) -> Anchor:
    """The anchor of a bundle.

    Raises:
        ValueError: a field is missing or malformed.
    """
    try:
        chain_id, batch_id, tree_size, block_number = (
            _uint(anchor.get(k), f"anchor.{k}")
            for k in ("chain_id", "batch_id", "tree_size", "block_number"))
        contract, root_hex, tx_hash, block_hash = (
            _string(anchor.get(k), f"anchor.{k}")
            for k in ("contract", "root", "tx_hash", "block_hash"))
    except _Failed as exc:
        raise ValueError(str(exc)) from None
    if not is_address(contract):
        raise ValueError("anchor.contract is not an address")
    root = _hex_bytes(root_hex.removeprefix("0x"), HASH_SIZE)
    if root is None:
        raise ValueError(f"anchor.root is not {HASH_SIZE} bytes in hex")
    for name, value in (("tx_hash", tx_hash), ("block_hash", block_hash)):
        if not _TX_HASH.fullmatch(value):
            raise ValueError(f"anchor.{name} is not 0x and 32 bytes in hex")
    return Anchor(chain_id, contract, batch_id, tree_size, root, tx_hash, block_number,
                  block_hash)


def _check_anchor(b: _Bundle, rpc_url: str | None, min_confirmations: int) -> str:
    if b.anchor is None:
        return "not anchored yet"
    _need(b.log is not None, "an anchor for a receipt that is not in the log")
    checkpoint = b.checkpoint
    if checkpoint is None:
        raise _Failed("not checked: no verified checkpoint to compare with")
    try:
        anchor = read_anchor(b.anchor)
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    _need(anchor.root == checkpoint.root,
          f"anchor.root {anchor.root.hex()} is not the checkpoint's {checkpoint.root.hex()}")
    _need(anchor.tree_size == checkpoint.tree_size,
          f"anchor.tree_size {anchor.tree_size} is not the checkpoint's "
          f"{checkpoint.tree_size}")
    if rpc_url is None:
        return (f"batch {anchor.batch_id} matches the checkpoint; not checked on chain "
                f"{anchor.chain_id}: pass an RPC URL")
    try:
        return check_anchor_on_chain(rpc_url, anchor, min_confirmations=min_confirmations)
    except (RpcError, ValueError) as exc:
        raise _Failed(str(exc)) from None


def rpc_call(url: str, method: str, params: list[Any], *, timeout: float = RPC_TIMEOUT) -> Any:
    """The result of one JSON-RPC 2.0 call over HTTP(S).

    Raises:
        RpcError: the URL is not http(s), the node is unreachable, or it answered an error or
            something that is not JSON-RPC.
    """
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise RpcError(f"the RPC URL must be http(s): {url!r}")
    payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(  # noqa: S310 (http and https only, checked above)
        url, data=payload.encode(), method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = json.loads(response.read(_MAX_RPC_RESPONSE))
    except (OSError, ValueError) as exc:
        raise RpcError(f"{method}: {exc}") from None
    if not isinstance(answer, dict):
        raise RpcError(f"{method}: not a JSON-RPC answer")
    if answer.get("error") is not None:
        raise RpcError(f"{method}: {answer['error']}")
    if "result" not in answer:
        raise RpcError(f"{method}: the answer has no result")
    return answer["result"]


def _quantity(value: object, what: str) -> int:
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise RpcError(f"{what} is not a hex quantity: {value!r}")
    return int(value, 16)


def _word(value: int | bytes) -> str:
    raw = value if isinstance(value, bytes) else value.to_bytes(32, "big")
    return "0x" + raw.hex()


def _is_anchored_log(entry: object, anchor: Anchor) -> bool:
    """Whether ``entry`` is ``Anchored(batch_id, root, tree_size)`` emitted by the contract."""
    if not isinstance(entry, Mapping) or entry.get("removed") is True:
        return False
    address, topics, data = entry.get("address"), entry.get("topics"), entry.get("data")
    if not isinstance(address, str) or address.lower() != anchor.contract.lower():
        return False
    expected = [ANCHORED_TOPIC, _word(anchor.batch_id), _word(anchor.root)]
    if not isinstance(topics, list) or [str(t).lower() for t in topics] != expected:
        return False
    return isinstance(data, str) and data.lower() == _word(anchor.tree_size)


def check_anchor_on_chain(url: str, anchor: Anchor, *, min_confirmations: int = 1,
                          timeout: float = RPC_TIMEOUT) -> str:
    """Check ``anchor`` against the chain behind the JSON-RPC endpoint ``url``; returns what
    was found.

    The chain id must match; the transaction must have succeeded in the named block and hold
    the contract's ``Anchored(batchId, root, treeSize)`` event; the chain's block at that
    height must still be that block (a reorg that dropped it is caught here); and the block
    must have ``min_confirmations`` confirmations (counting itself).

    Raises:
        RpcError: the node cannot be asked, or its answers do not hold the anchor.
    """
    def call(method: str, *params: Any) -> Any:
        return rpc_call(url, method, list(params), timeout=timeout)

    chain_id = _quantity(call("eth_chainId"), "eth_chainId")
    if chain_id != anchor.chain_id:
        raise RpcError(f"the node serves chain {chain_id}, the anchor is on {anchor.chain_id}")
    receipt = call("eth_getTransactionReceipt", anchor.tx_hash)
    if receipt is None:
        raise RpcError(f"transaction {anchor.tx_hash} is not on chain {chain_id}: not mined, "
                       "or dropped by a reorg")
    if not isinstance(receipt, Mapping):
        raise RpcError("eth_getTransactionReceipt: not a receipt")
    if _quantity(receipt.get("status"), "receipt status") != 1:
        raise RpcError(f"transaction {anchor.tx_hash} reverted")
    mined_in = _quantity(receipt.get("blockNumber"), "receipt blockNumber")
    if mined_in != anchor.block_number:
        raise RpcError(f"transaction {anchor.tx_hash} is in block {mined_in}, the anchor "
                       f"says {anchor.block_number}")
    if str(receipt.get("blockHash")).lower() != anchor.block_hash.lower():
        raise RpcError(f"transaction {anchor.tx_hash} is in block {receipt.get('blockHash')}, "
                       f"the anchor says {anchor.block_hash}")
    logs = receipt.get("logs")
    if not isinstance(logs, list) or not any(_is_anchored_log(e, anchor) for e in logs):
        raise RpcError(f"transaction {anchor.tx_hash} emitted no {ANCHORED_EVENT} of batch "
                       f"{anchor.batch_id}, root {anchor.root.hex()}, size {anchor.tree_size} "
                       f"from {anchor.contract}")
    block = call("eth_getBlockByNumber", hex(anchor.block_number), False)
    now_hash = block.get("hash") if isinstance(block, Mapping) else None
    if not isinstance(now_hash, str) or now_hash.lower() != anchor.block_hash.lower():
        raise RpcError(f"block {anchor.block_number} is now {now_hash}, not "
                       f"{anchor.block_hash}: the anchor was reorged out")
    head = _quantity(call("eth_blockNumber"), "eth_blockNumber")
    confirmations = head - anchor.block_number + 1
    if confirmations < min_confirmations:
        raise RpcError(f"block {anchor.block_number} has {confirmations} confirmations, "
                       f"fewer than {min_confirmations}")
    return (f"batch {anchor.batch_id} anchored by {anchor.tx_hash} in block "
            f"{anchor.block_number} of chain {chain_id}, {confirmations} confirmations")


def _part(name: str, check: Callable[[], str]) -> Part:
    try:
        return Part(name, True, check())
    except _Failed as exc:
        return Part(name, False, str(exc))
    except Exception as exc:  # never raise on a malformed bundle: name the surprise instead
        return Part(name, False, f"cannot check: {type(exc).__name__}: {exc}")


def verify_bundle(
    bundle: Mapping[str, Any], *, trusted_signer: str | None = None,
    rpc_url: str | None = None, min_confirmations: int = 1,
) -> Report:
    """Check a proof bundle without trusting whoever served it; never raises.

    ``trusted_signer`` pins the platform's key (address or SM2 public key); without it the
    signature only shows that *some* key signed. ``rpc_url`` (an Ethereum JSON-RPC endpoint)
    checks the anchor on chain, with at least ``min_confirmations`` confirmations.
    """
    try:
        b = _read_format(bundle)
    except _Failed as exc:
        skipped = [Part(n, False, "not checked: the bundle is malformed") for n in PARTS[1:]]
        return Report([Part("format", False, str(exc)), *skipped])
    except Exception as exc:  # a Mapping whose lookups raise
        skipped = [Part(n, False, "not checked: the bundle is malformed") for n in PARTS[1:]]
        return Report([Part("format", False, f"cannot read: {exc}"), *skipped])
    pending = b.log is None
    skip = "skipped: the receipt is not in the log yet"
    parts = [
        Part("format", True, BUNDLE_FORMAT),
        _part("body", lambda: _check_body(b)),
        _part("signature", lambda: _check_signature(b)),
        _part("signer", lambda: _check_signer(b, trusted_signer)),
        _part("log", lambda: _read_log(b)),
        Part("checkpoint", True, skip) if pending
        else _part("checkpoint", lambda: _check_checkpoint(b)),
        Part("inclusion", True, skip) if pending
        else _part("inclusion", lambda: _check_inclusion(b)),
        _part("anchor", lambda: _check_anchor(b, rpc_url, min_confirmations)),
    ]
    return Report(parts, pending=pending)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def main(argv: Sequence[str] | None = None) -> int:
    """``python verifier.py BUNDLE.json [--signer KEY] [--rpc URL] [--min-confirmations N]``:
    print the report as JSON; exit 0 when the bundle verifies, 1 when it does not."""
    parser = argparse.ArgumentParser(
        prog="verifier.py", description="Verify a market receipt proof bundle.")
    parser.add_argument("bundle", help="the proof bundle, a JSON file ('-' reads stdin)")
    parser.add_argument("--signer", help="the platform's key to trust: address or SM2 key")
    parser.add_argument("--rpc", help="an Ethereum JSON-RPC URL to check the anchor on chain")
    parser.add_argument("--min-confirmations", type=int, default=1,
                        help="confirmations the anchor needs (default 1)")
    args = parser.parse_args(argv)
    try:
        if args.bundle == "-":
            text = sys.stdin.read()
        else:
            with open(args.bundle, encoding="utf-8") as handle:
                text = handle.read()
        bundle = json.loads(text, parse_constant=_no_constant)
        report = verify_bundle(bundle, trusted_signer=args.signer, rpc_url=args.rpc,
                               min_confirmations=args.min_confirmations)
    except (OSError, ValueError, RecursionError) as exc:
        report = Report([Part("format", False, f"cannot read {args.bundle}: {exc}"),
                         *(Part(n, False, "not checked: no bundle") for n in PARTS[1:])])
    print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
