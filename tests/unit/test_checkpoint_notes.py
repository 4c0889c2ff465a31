"""Checkpoints as C2SP signed notes: the format, the key IDs, and refusing tampered notes.

The published examples of c2sp.org/signed-note, c2sp.org/tlog-checkpoint and the Go reference
implementation (golang.org/x/mod/sumdb/note) are Ed25519 notes: reading them, and checking
their signatures with an Ed25519 library, shows the parser reads real notes byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from market.receipts import verifier as v
from market.receipts.checkpoint import format_checkpoint, sign_checkpoint
from market.receipts.suites import Secp256k1Suite, Sm2Suite, Suite

# c2sp.org/signed-note, "Verifier keys" example.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmR"
    "KuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-checkpoint, the example checkpoint.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zh"
    "cyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
# golang.org/x/mod/sumdb/note note_test.go (TestOpen): one text signed by two keys.
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_SIG = ("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqd"
             "ngotpRZb6KE6RyyBwJnAM=\n")
ENOCH_SIG = ("— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oO"
             "TGwnWLox33WWd1RvMc+QQ=\n")

ROOT = bytes(range(32))
SUITES: dict[str, Suite] = {
    "secp256k1-sha256": Secp256k1Suite("0x" + "4c" * 32),
    "sm2-sm3": Sm2Suite("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"),
}


def _ed25519_verifies(vkey: str, note: v.Note) -> bool:
    name, kid, material = v.parse_vkey(vkey)
    assert material[:1] == v.ED25519_SIGNATURE_TYPE
    public = Ed25519PublicKey.from_public_bytes(material[1:])
    own = [s for s in note.signatures if s.name == name and s.key_id == kid]
    try:
        for signature in own:
            public.verify(signature.signature, note.text)
    except InvalidSignature:
        return False
    return bool(own)


# --- Reading published notes ---

def test_the_signed_note_spec_example_reads_and_verifies() -> None:
    name, kid, material = v.parse_vkey(SPEC_VKEY)
    assert (name, kid) == ("example.com/foo", 0x530D903A)
    assert v.key_id(name, v.ED25519_SIGNATURE_TYPE, material[1:]) == 0x530D903A
    note = v.parse_note(SPEC_NOTE)
    assert note.text == b"This is an example message.\n"
    assert [(s.name, s.key_id, len(s.signature)) for s in note.signatures] == [
        ("example.com/foo", 0x530D903A, 64)]
    assert _ed25519_verifies(SPEC_VKEY, note)
    tampered = v.parse_note(SPEC_NOTE.replace("example message", "example massage"))
    assert not _ed25519_verifies(SPEC_VKEY, tampered)


def test_the_go_reference_notes_read_and_verify() -> None:
    note = v.parse_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == GO_TEXT.encode()
    assert [(s.name, s.key_id) for s in note.signatures] == [
        ("PeterNeumann", 0xC74F20A3), ("EnochRoot", 0xAF0CFE78)]
    assert _ed25519_verifies(PETER_VKEY, note)
    assert _ed25519_verifies(ENOCH_VKEY, note)


def test_the_tlog_checkpoint_spec_example_parses() -> None:
    note = v.parse_note(SPEC_CHECKPOINT)
    assert [(s.name, len(s.signature)) for s in note.signatures] == [
        ("example.com/behind-the-sofa", 64)]
    checkpoint = v.parse_checkpoint(note.text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.tree_size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert (checkpoint.extensions, checkpoint.suite, checkpoint.time) == ((), None, None)


@pytest.mark.parametrize("note", [
    GO_TEXT,  # no signatures
    GO_TEXT + "\n",  # no signature line
    GO_TEXT + "\n" + PETER_SIG[:-1],  # no final newline
    "\x01" + GO_TEXT + "\n" + PETER_SIG,  # a control character
    GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n",  # a space in the key name
    GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    GO_TEXT + "\n" + PETER_SIG.replace("— ", "- "),  # hyphen, not em dash
    GO_TEXT + "\n" + "— PeterNeumann AAAAAA==\n",  # a key ID and no signature
    GO_TEXT + "\n" + PETER_SIG.replace("AM=", "AM"),  # unpadded base64
    GO_TEXT + "\n" + PETER_SIG * (v.MAX_NOTE_SIGNATURES + 1),
], ids=range(11))
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(v.NoteError):
        v.parse_note(note)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(v.NoteError, match="UTF-8"):
        v.parse_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode())


def test_sixteen_signatures_are_read() -> None:
    assert len(v.parse_note(GO_TEXT + "\n" + PETER_SIG * 16).signatures) == 16


def test_the_text_ends_at_the_last_blank_line() -> None:
    note = v.parse_note("a\n\nb\n\n" + PETER_SIG)
    assert note.text == b"a\n\nb\n"


# --- Our checkpoints ---

def test_format_is_byte_exact() -> None:
    text = format_checkpoint("market.example/receipts/sm2-sm3", 7, ROOT, "sm2-sm3", 1_700_000_000)
    assert text == (b"market.example/receipts/sm2-sm3\n7\n"
                    + base64.b64encode(ROOT) + b"\nsuite sm2-sm3\ntime 1700000000\n")


@pytest.mark.parametrize("size", [0, 1, 20852163, 2**64 - 1])
def test_format_round_trip(size: int) -> None:
    text = format_checkpoint("log.example/a", size, ROOT, "secp256k1-sha256", 12)
    checkpoint = v.parse_checkpoint(text)
    assert checkpoint == v.Checkpoint("log.example/a", size, ROOT,
                                      ("suite secp256k1-sha256", "time 12"),
                                      "secp256k1-sha256", 12)


@pytest.mark.parametrize(("args", "match"), [
    (("has space", 1, ROOT, "sm2-sm3", 1), "origin"),
    (("a+b", 1, ROOT, "sm2-sm3", 1), "origin"),
    (("", 1, ROOT, "sm2-sm3", 1), "origin"),
    (("o", -1, ROOT, "sm2-sm3", 1), "tree size"),
    (("o", 1, ROOT[:31], "sm2-sm3", 1), "32 bytes"),
    (("o", 1, ROOT, "ed25519", 1), "unknown suite"),
    (("o", 1, ROOT, "sm2-sm3", -5), "time"),
])
def test_format_refuses_what_cannot_be_a_checkpoint(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        format_checkpoint(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "o\n1\n",  # two lines
    "o\n01\n" + base64.b64encode(ROOT).decode() + "\n",  # a leading zero
    "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
    "o\n18446744073709551616\n" + base64.b64encode(ROOT).decode() + "\n",  # 2**64
    "o\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # 31-byte root
    "o\n1\n" + base64.b64encode(ROOT).decode(),  # no final newline
    "o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",  # an empty extension line
    "\n1\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
    "o\n1\n" + base64.b64encode(ROOT).decode() + "\nsuite a\nsuite b\n",
    "o\n1\n" + base64.b64encode(ROOT).decode() + "\ntime 01\n",
    "o\n1\n" + base64.b64encode(ROOT).decode().replace("=", "") + "\n",
], ids=range(11))
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(v.NoteError):
        v.parse_checkpoint(text.encode())


def test_unknown_extension_lines_are_kept() -> None:
    text = format_checkpoint("o", 1, ROOT, "sm2-sm3", 5) + b"witness-hint x\n"
    assert v.parse_checkpoint(text).extensions == ("suite sm2-sm3", "time 5", "witness-hint x")


@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_key_id_is_the_recommended_hash_with_the_0xff_type(suite_name: str) -> None:
    suite = SUITES[suite_name]
    name = f"market.example/receipts/{suite_name}"
    signature_type = b"\xff" + b"market-receipts/" + suite_name.encode()
    assert v.SIGNATURE_TYPES[suite_name] == signature_type
    public = (bytes.fromhex(suite.identity[2:]) if suite_name == "secp256k1-sha256"
              else bytes.fromhex(suite.identity))
    assert len(public) == (20 if suite_name == "secp256k1-sha256" else 65)
    expected = hashlib.sha256(name.encode() + b"\n" + signature_type + public).digest()[:4]
    assert v.note_key_id(suite_name, name, suite.identity) == int.from_bytes(expected, "big")
    encoded = v.vkey(suite_name, name, suite.identity)
    assert encoded == (f"{name}+{expected.hex()}+"
                       + base64.b64encode(signature_type + public).decode())
    assert v.parse_vkey(encoded) == (name, int.from_bytes(expected, "big"),
                                     signature_type + public)


def test_a_vkey_whose_id_is_not_its_hash_is_refused() -> None:
    with pytest.raises(v.NoteError, match="key ID"):
        v.parse_vkey(SPEC_VKEY.replace("530d903a", "530d903b"))


@pytest.mark.parametrize("suite_name", sorted(SUITES))
def test_signed_checkpoint_is_a_signed_note(suite_name: str) -> None:
    suite = SUITES[suite_name]
    origin = f"market.example/receipts/{suite_name}"
    note = sign_checkpoint(suite, origin, 5, ROOT, 1_700_000_000)
    text = format_checkpoint(origin, 5, ROOT, suite_name, 1_700_000_000).decode()
    assert note.startswith(text + "\n— " + origin + " ")
    match = re.fullmatch(re.escape(text) + "\n— " + re.escape(origin) + r" ([A-Za-z0-9+/=]+)\n",
                         note)
    assert match is not None
    raw = base64.b64decode(match.group(1))
    assert int.from_bytes(raw[:4], "big") == v.note_key_id(suite_name, origin, suite.identity)
    assert len(raw) == 4 + (65 if suite_name == "secp256k1-sha256" else 64)
    checkpoint = v.open_checkpoint(note, suite=suite_name, origin=origin,
                                   public_key=suite.identity)
    assert (checkpoint.origin, checkpoint.tree_size, checkpoint.root) == (origin, 5, ROOT)
    assert (checkpoint.suite, checkpoint.time) == (suite_name, 1_700_000_000)


@pytest.fixture(params=sorted(SUITES))
def signed(request: pytest.FixtureRequest) -> tuple[str, Suite, str, str]:
    suite = SUITES[request.param]
    origin = f"market.example/receipts/{request.param}"
    return request.param, suite, origin, sign_checkpoint(suite, origin, 5, ROOT, 1_700_000_000)


def _open(signed: tuple[str, Suite, str, str], note: str, **change: str) -> v.Checkpoint:
    suite_name, suite, origin, _ = signed
    args = {"suite": suite_name, "origin": origin, "public_key": suite.identity, **change}
    return v.open_checkpoint(note, **args)


def test_tampered_text_is_refused(signed: tuple[str, Suite, str, str]) -> None:
    note = signed[3]
    with pytest.raises(v.NoteError, match="does not verify"):
        _open(signed, note.replace("\n5\n", "\n6\n", 1))


def test_tampered_signature_is_refused(signed: tuple[str, Suite, str, str]) -> None:
    note = signed[3]
    head, encoded = note.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 0x01
    with pytest.raises(v.NoteError, match="does not verify"):
        _open(signed, f"{head} {base64.b64encode(bytes(raw)).decode()}\n")


def test_a_renamed_key_is_not_the_log_key(signed: tuple[str, Suite, str, str]) -> None:
    note = signed[3].replace("— market.example/", "— market.example2/")
    with pytest.raises(v.NoteError, match="no signature by the log key"):
        _open(signed, note)


def test_another_key_is_not_the_log_key(signed: tuple[str, Suite, str, str]) -> None:
    other = (Secp256k1Suite("0x" + "4d" * 32) if signed[0] == "secp256k1-sha256"
             else Sm2Suite("01" * 32))
    with pytest.raises(v.NoteError, match="no signature by the log key"):
        _open(signed, signed[3], public_key=other.identity)


def test_another_origin_or_suite_is_refused(signed: tuple[str, Suite, str, str]) -> None:
    suite_name, suite, origin, _ = signed
    # Signed by the log key under its own name, but the text names another log.
    text = format_checkpoint("elsewhere.example/log", 5, ROOT, suite_name, 1)
    kid = v.note_key_id(suite_name, origin, suite.identity)
    note = text.decode() + "\n" + v.signature_line(origin, kid, suite.sign_note(text))
    with pytest.raises(v.NoteError, match="origin"):
        _open(signed, note)
    other_suite = "sm2-sm3" if suite_name == "secp256k1-sha256" else "secp256k1-sha256"
    text = format_checkpoint(origin, 5, ROOT, other_suite, 1)
    note = text.decode() + "\n" + v.signature_line(origin, kid, suite.sign_note(text))
    with pytest.raises(v.NoteError, match="suite"):
        _open(signed, note)


def test_other_signatures_are_ignored_but_a_bad_own_one_is_not(
    signed: tuple[str, Suite, str, str],
) -> None:
    note = signed[3]
    assert _open(signed, note + PETER_SIG).tree_size == 5  # a witness we do not know
    own_line = note.split("\n\n", 1)[1]
    head, encoded = own_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-2] ^= 0x01
    with pytest.raises(v.NoteError, match="does not verify"):
        _open(signed, note + f"{head} {base64.b64encode(bytes(raw)).decode()}\n")
