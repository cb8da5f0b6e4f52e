"""Tests for ledger.checkpoint: note and key formats, cosignatures, the witness and the client."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.config import Settings
from ledger.core.errors import ConfigError, ProofError
from ledger.core.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from ledger.tlog.client import CheckpointClient, TrustPolicy, verify_checkpoint
from ledger.tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    NoteSignature,
    SignerKey,
    VerifierKey,
    add_signatures,
    generate_key,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)
from ledger.tlog.witness import Witness, make_witness_server

# golang.org/x/mod/sumdb/note example_test.go (ExampleSign / ExampleOpen).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG_LINE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
    "Zb6KE6RyyBwJnAM=\n"
)

# C2SP tlog-checkpoint / tlog-cosignature examples.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_NOTE = (
    SPEC_BODY
    + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)

ORIGIN = "bangfu.example/log/31337"


# ------------------------------------------------------------------------------ known answers


def test_go_note_known_answer() -> None:
    signer = parse_signer_key(GO_SKEY)
    assert signer.name == "PeterNeumann" and signer.alg == ALG_ED25519
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier().encode() == GO_VKEY
    assert signer.encode() == GO_SKEY
    # Ed25519 is deterministic, so the exact signature line must match Go's output.
    assert sign_note(GO_TEXT, signer) == GO_TEXT + "\n" + GO_SIG_LINE
    note = open_note(GO_TEXT + "\n" + GO_SIG_LINE, [parse_verifier_key(GO_VKEY)])
    assert note.body == GO_TEXT.encode()
    assert [s.name for s in note.verified] == ["PeterNeumann"]


def test_cosignature_key_id_known_answers() -> None:
    # transparency-dev/formats note_cosigv1_test.go: a native 0x04 vkey and a 0x01 one.
    cosigner = VerifierKey.parse(
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    )
    assert cosigner.alg == ALG_COSIGNATURE_V1 and cosigner.key_id.hex() == "da77ade7"
    plain = VerifierKey.parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert plain.alg == ALG_ED25519 and plain.key_id.hex() == "7997405c"
    # The same key as a cosigner has a different key ID (type byte 0x04).
    assert plain.as_cosignature_v1().key_id != plain.key_id


#: Malformed vkeys (parse_verifier_key: ConfigError) and checkpoint bodies (ProofError).
BAD_INPUTS: list[tuple[Callable[[str], object], str, type[Exception]]] = [
    (parse_verifier_key, "bananas.sigstore.dev+12344556", ConfigError),
    (parse_verifier_key, "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!", ConfigError),
    (parse_verifier_key, "rekor.sigstore.dev+12345678+AwEB", ConfigError),
    (parse_verifier_key, "TEST+00000000+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", ConfigError),
    (parse_verifier_key, "TEST+NOT_HEX!+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", ConfigError),
    (Checkpoint.parse, "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", ProofError),
    (Checkpoint.parse, "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", ProofError),
    (Checkpoint.parse, "o\n1\n", ProofError),
    (Checkpoint.parse, "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", ProofError),
    (Checkpoint.parse, "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", ProofError),
    (Checkpoint.parse, "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", ProofError),
    (Checkpoint.parse, "o\n1\nAAAA\n", ProofError),
    (Checkpoint.parse, "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", ProofError),
]


@pytest.mark.parametrize(("parse", "text", "error"), BAD_INPUTS)
def test_bad_inputs_are_refused(
    parse: Callable[[str], object], text: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        parse(text)


def test_cosignature_line_layout_known_answers() -> None:
    note = parse_note(SPEC_NOTE)
    witness_sig = note.signatures[1]
    assert witness_sig.name == "witness.example.com/w1"
    assert witness_sig.key_id.hex() == "8d66cf3f"
    assert witness_sig.timestamp == 1679315147  # "time 1679315147" in the spec's example
    assert note.signatures[0].timestamp is None
    go = NoteSignature.parse_line(
        "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOwor"
        "DcFiEBYJXORmnFBOBA=="
    )
    assert go.timestamp == 1727964367


def test_checkpoint_body_matches_the_spec() -> None:
    root = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, root)
    assert cp.body() == SPEC_BODY.encode()
    assert Checkpoint.parse(SPEC_BODY) == cp
    assert Checkpoint.parse(SPEC_NOTE) == cp
    ext = Checkpoint(ORIGIN, 0, EMPTY_ROOT, ("chain 31337", "block 7"))
    assert Checkpoint.parse(ext.body()) == ext
    assert ext.body().endswith(b"chain 31337\nblock 7\n")


# --------------------------------------------------------------------------------- notes


def test_sign_open_round_trip_and_failures() -> None:
    log_key = SignerKey.generate(ORIGIN)
    other = SignerKey.generate("someone.else")
    cp = Checkpoint(ORIGIN, 3, b"\x07" * 32, ("x",))
    text = cp.sign([log_key, other])
    note = open_note(text, [log_key.verifier()])
    assert note.checkpoint() == cp
    assert len(note.signatures) == 2 and [s.name for s in note.verified] == [ORIGIN]
    assert parse_note(text).to_text() == text

    with pytest.raises(ProofError, match="not signed by any known key"):
        open_note(text, [SignerKey.generate("stranger").verifier()])
    # A key with the same name but another key ID is an unknown key, so it is ignored.
    impostor = SignerKey.generate(ORIGIN).verifier()
    with pytest.raises(ProofError, match="not signed by any known key"):
        open_note(text, [impostor])
    tampered = text.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(ProofError, match="does not verify"):
        open_note(tampered, [log_key.verifier()])
    for broken in (
        text.rstrip("\n"),
        cp.body().decode(),
        text.replace("— ", "- ", 1),
        text + "\x01",
    ):
        with pytest.raises(ProofError):
            open_note(broken, [log_key.verifier()])


def test_generate_and_parse_keys() -> None:
    skey, vkey = generate_key("witness.bangfu.example/a", ALG_COSIGNATURE_V1)
    signer, verifier = parse_signer_key(skey), parse_verifier_key(vkey)
    assert signer.verifier() == verifier and verifier.alg == ALG_COSIGNATURE_V1
    assert skey.startswith("PRIVATE+KEY+witness.bangfu.example/a+")
    assert signer.seed.hex() not in repr(signer)
    for bad_name in ("", "a b", "a+b"):
        with pytest.raises(ConfigError):
            SignerKey.generate(bad_name)
    with pytest.raises(ConfigError):
        parse_signer_key(skey.replace("PRIVATE+KEY", "PUBLIC+KEY"))


def test_cosignature_signs_the_specified_message() -> None:
    witness_key = SignerKey.generate("witness.bangfu.example/w1", ALG_COSIGNATURE_V1)
    body = Checkpoint(ORIGIN, 9, b"\x01" * 32).body()
    sig = witness_key.sign(body, timestamp=1679315147)
    raw = base64.b64decode(sig.line().split(" ")[2])
    assert raw[:4] == witness_key.key_id
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    # Checked with the raw Ed25519 primitive, independently of VerifierKey.verify.
    message = b"cosignature/v1\ntime 1679315147\n" + body
    Ed25519PublicKey.from_public_bytes(witness_key.public_key).verify(raw[12:], message)
    assert witness_key.verifier().verify(body, sig.signature)
    assert not witness_key.verifier().verify(body + b"x\n", sig.signature)


# ------------------------------------------------------------------------------- witness


class Log:
    """A toy log: a Merkle tree and a key that signs its checkpoints."""

    def __init__(self, key: SignerKey | None = None) -> None:
        self.key = key or SignerKey.generate(ORIGIN)
        self.tree = MerkleTree()

    def grow(self, n: int, tag: bytes = b"") -> None:
        for _ in range(n):
            self.tree.append(leaf_hash(tag + b"record %d" % self.tree.size))

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.tree.size if size is None else size
        return Checkpoint(ORIGIN, size, self.tree.root(size))

    def note(self, size: int | None = None) -> str:
        return self.checkpoint(size).sign(self.key)

    def request(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> bytes:
        size = self.tree.size if size is None else size
        if proof is None:
            proof = self.tree.consistency_proof(old, size) if old else []
        lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
        return f"old {old}\n{lines}\n{self.note(size)}".encode()


@pytest.fixture
def setup(tmp_path: Path):
    log = Log()
    witness_key = SignerKey.generate("witness.bangfu.example/w1", ALG_COSIGNATURE_V1)
    state = tmp_path / "witness.json"
    witness = Witness(witness_key, {ORIGIN: log.key.verifier()}, state, clock=lambda: 1700000000.5)
    return log, witness, state


def test_witness_protocol(setup) -> None:
    log, witness, state = setup
    log.grow(5)
    status, body, ctype = witness.add_checkpoint(log.request(0))
    assert status == 200, body
    assert ctype.startswith("text/plain")
    assert body.startswith("— witness.bangfu.example/w1 ".encode()) and body.endswith(b"\n")
    # The response appended to the checkpoint opens with the witness's cosignature key.
    cosigned = add_signatures(log.note(), body)
    note = open_note(cosigned, [witness.verifier])
    assert note.verified[0].timestamp == 1700000000
    assert witness.latest(ORIGIN) == (5, log.tree.root(5))
    assert json.loads(state.read_text())["logs"][ORIGIN]["size"] == 5

    log.grow(4)
    status, body, _ = witness.add_checkpoint(log.request(5))
    assert status == 200, body
    assert witness.latest(ORIGIN) == (9, log.tree.root(9))

    # The same checkpoint again is cosigned again.
    assert witness.add_checkpoint(log.request(9))[0] == 200

    log.grow(3)
    assert witness.add_checkpoint(log.request(5)) == (409, b"9\n", "text/x.tlog.size")
    assert witness.add_checkpoint(log.request(0)) == (409, b"9\n", "text/x.tlog.size")

    good = log.tree.consistency_proof(9, 12)
    bad = [bytes([good[0][0] ^ 16]) + good[0][1:], *good[1:]]
    status, body, _ = witness.add_checkpoint(log.request(9, proof=bad))
    assert status == 422, body
    assert witness.add_checkpoint(log.request(9, proof=good[:-1]))[0] == 422
    assert witness.latest(ORIGIN) == (9, log.tree.root(9))

    assert witness.add_checkpoint(log.request(9))[0] == 200
    assert witness.latest(ORIGIN) == (12, log.tree.root(12))
    assert not [p for p in state.parent.iterdir() if p.name.endswith(".tmp")]


def test_witness_refusals(setup) -> None:
    log, witness, _ = setup
    log.grow(6)
    forger = Log(SignerKey.generate(ORIGIN))
    forger.tree = log.tree
    assert witness.add_checkpoint(forger.request(0))[0] == 403

    stranger = Log()
    stranger.grow(2)
    other_origin = Checkpoint("elsewhere.example/log", 2, stranger.tree.root())
    req = f"old 0\n\n{other_origin.sign(stranger.key)}".encode()
    assert witness.add_checkpoint(req)[0] == 404

    for malformed in (
        b"",
        b"old 0\n",
        b"new 0\n\n" + log.note().encode(),
        b"old 00\n\n" + log.note().encode(),
        b"old 0\nnot-base64!\n\n" + log.note().encode(),
        b"old 0\n\n" + log.checkpoint().body(),
        b"old 0\n" + b"AAAA\n" * 64 + b"\n" + log.note().encode(),
        b"\xff\xfe",
    ):
        assert witness.add_checkpoint(malformed)[0] == 400, malformed

    assert witness.add_checkpoint(log.request(0, size=4))[0] == 200
    # old size larger than the checkpoint: 400, whatever the witness's state.
    assert witness.add_checkpoint(log.request(4, size=3, proof=[]))[0] == 400

    # Same size as cosigned, different root: a fork; 409 and the state is unchanged.
    fork = Log(log.key)
    fork.grow(4, tag=b"fork ")
    status, _, _ = witness.add_checkpoint(fork.request(4, proof=[]))
    assert status == 409
    assert witness.latest(ORIGIN) == (4, log.tree.root(4))


def test_witness_state_survives_restart(setup) -> None:
    log, witness, state = setup
    log.grow(7)
    assert witness.add_checkpoint(log.request(0))[0] == 200
    again = Witness(witness.signer, {ORIGIN: [log.key.verifier()]}, state)
    assert again.latest(ORIGIN) == (7, log.tree.root())
    assert again.add_checkpoint(log.request(0)) == (409, b"7\n", "text/x.tlog.size")
    log.grow(1)
    assert again.add_checkpoint(log.request(7))[0] == 200
    # The first instance shares the file, so it cannot be rolled back either.
    assert witness.add_checkpoint(log.request(7, size=7, proof=[]))[0] == 409


def test_witness_needs_a_cosignature_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Witness(SignerKey.generate("w"), {}, tmp_path / "w.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError):
        Witness(SignerKey.generate("w", ALG_COSIGNATURE_V1), {}, tmp_path / "bad.json")


def test_witness_http_server(setup) -> None:
    log, witness, _ = setup
    server = make_witness_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint"
    try:
        log.grow(3)
        with urllib.request.urlopen(
            urllib.request.Request(url, data=log.request(0)), timeout=10
        ) as r:
            assert r.status == 200
            assert open_note(add_signatures(log.note(), r.read()), [witness.verifier])
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url, data=log.request(0)), timeout=10)
        assert info.value.code == 409
        assert info.value.headers["Content-Type"] == "text/x.tlog.size"
        assert info.value.read() == b"3\n"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url[:-3], data=b"x"), timeout=10)
        assert info.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -------------------------------------------------------------------------------- client


def test_client_refuses_rewritten_history(tmp_path: Path) -> None:
    log = Log()
    log.grow(10)
    path = tmp_path / "seen.json"
    client = CheckpointClient([log.key.verifier()], path, log.tree.consistency_proof)
    assert client.observe(log.note(5)) == log.checkpoint(5)
    client.observe(log.note(10))
    client.observe(log.note(3))  # an older one, checked against its neighbours 5
    assert [cp.size for cp in client.seen(ORIGIN)] == [3, 5, 10]
    assert client.observe(log.note(10)) == log.checkpoint(10)

    # The operator rewrites history: same key, same sizes, different records.
    fork = Log(log.key)
    fork.grow(12, tag=b"rewritten ")
    with pytest.raises(ProofError) as info:
        client.observe(fork.note(10))
    assert info.value.code == "inconsistent_checkpoint"
    # A bigger forked tree: its consistency proofs cannot link it to what we saw.
    with pytest.raises(ProofError) as info:
        client.observe(fork.note(12), fork.tree.consistency_proof)
    assert info.value.code == "inconsistent_checkpoint"
    # In between two seen checkpoints, checked against both neighbours.
    with pytest.raises(ProofError) as info:
        client.observe(fork.note(7), fork.tree.consistency_proof)
    assert info.value.code == "inconsistent_checkpoint"
    assert [cp.size for cp in client.seen(ORIGIN)] == [3, 5, 10]

    # What the client saw survives a restart.
    again = CheckpointClient([log.key.verifier()], path)
    assert again.latest(ORIGIN) == log.checkpoint(10)
    with pytest.raises(ProofError) as info:
        again.observe(fork.checkpoint(5))
    assert info.value.code == "inconsistent_checkpoint"
    log.grow(2)
    again.observe(log.checkpoint(12), log.tree.consistency_proof)
    assert again.latest(ORIGIN) == log.checkpoint(12)


def test_client_other_refusals() -> None:
    log = Log()
    log.grow(4)
    client = CheckpointClient([log.key.verifier()])
    with pytest.raises(ProofError):
        client.observe(log.note().replace("\n4\n", "\n3\n", 1))  # bad signature
    with pytest.raises(ProofError) as info:
        client.observe(Checkpoint(ORIGIN, 0, b"\x00" * 32))
    assert info.value.code == "inconsistent_checkpoint"
    client.observe(log.checkpoint(2))
    with pytest.raises(ProofError, match="get_consistency"):
        client.observe(log.checkpoint(4))


# ------------------------------------------------------------------------ trust policy


def _witnesses(n: int) -> list[SignerKey]:
    return [SignerKey.generate(f"witness{i}.example", ALG_COSIGNATURE_V1) for i in range(n)]


def test_verify_checkpoint_needs_the_log_key_and_the_quorum() -> None:
    log = Log()
    log.grow(6)
    w = _witnesses(3)
    body = log.checkpoint().body()
    all_three = sign_note(body, [log.key, *w])
    policy = TrustPolicy(log.key.verifier(), tuple(k.verifier() for k in w), quorum=2)
    cp, cosigned = verify_checkpoint(all_three, policy)
    assert cp == log.checkpoint() and cosigned == [k.name for k in w]
    # exactly the quorum is enough; one short is not
    assert verify_checkpoint(sign_note(body, [log.key, w[0], w[2]]), policy)[1] == [
        w[0].name,
        w[2].name,
    ]
    with pytest.raises(ProofError) as info:
        verify_checkpoint(sign_note(body, [log.key, w[1]]), policy)
    assert info.value.code == "quorum_not_met"
    # the same witness twice counts once
    twice = add_signatures(
        sign_note(body, [log.key, w[1]]),
        w[1].sign(body).line(),
    )
    with pytest.raises(ProofError) as info:
        verify_checkpoint(twice, policy)
    assert info.value.code == "quorum_not_met"
    # witnesses alone, without the log's own signature: never
    with pytest.raises(ProofError) as info:
        verify_checkpoint(sign_note(body, w), policy)
    assert info.value.code == "checkpoint_unsigned"
    # the default quorum 0 still requires the log key
    default = TrustPolicy(log.key.verifier())
    assert verify_checkpoint(sign_note(body, log.key), default)[1] == []
    impostor = SignerKey.generate(ORIGIN)  # same name, another key
    with pytest.raises(ProofError) as info:
        verify_checkpoint(sign_note(body, impostor), default)
    assert info.value.code == "checkpoint_unsigned"
    # a broken signature by a known key is an error, not something to skip
    bad = all_three.replace("\n6\n", "\n5\n", 1)
    with pytest.raises(ProofError) as info:
        verify_checkpoint(bad, policy)
    assert info.value.code == "bad_checkpoint_signature"
    # a checkpoint of another log under this log's key name is refused
    other = Checkpoint("bangfu.example/other", 6, log.checkpoint().root).sign(log.key)
    with pytest.raises(ProofError) as info:
        verify_checkpoint(other, default)
    assert info.value.code == "wrong_origin"


def test_trust_policy_settings() -> None:
    log_key = SignerKey.generate(ORIGIN)
    w = _witnesses(2)
    # plain Ed25519 witness vkeys are read as their cosignature/v1 form
    plain = [VerifierKey(k.name, k.public_key).encode() for k in w]
    policy = TrustPolicy.from_texts(log_key.verifier().encode(), plain, 2)
    assert [k.alg for k in policy.witnesses] == [ALG_COSIGNATURE_V1] * 2
    assert policy.witnesses[0] == w[0].verifier()
    with pytest.raises(ConfigError) as info:
        TrustPolicy.from_texts(log_key.verifier().encode(), plain, 3)
    assert info.value.code == "bad_quorum"
    with pytest.raises(ConfigError) as info:
        TrustPolicy(w[0].verifier())
    assert info.value.code == "bad_log_key"
    # the settings: the default quorum is 0 (the log key alone), from the environment as JSON
    assert Settings().witness_quorum == 0 and Settings().witness_keys == []
    assert Settings().checkpoint_log_key is None
    env = Settings.model_validate(
        {
            "witness_keys": plain,
            "witness_quorum": 1,
            "checkpoint_log_key": log_key.verifier().encode(),
        }
    )
    assert TrustPolicy.from_texts(str(env.checkpoint_log_key), env.witness_keys, env.witness_quorum)


def test_client_with_a_policy_and_a_pinned_key(tmp_path: Path) -> None:
    log = Log()
    log.grow(8)
    w = _witnesses(1)
    path = tmp_path / "seen.json"
    policy = TrustPolicy(log.key.verifier(), (w[0].verifier(),), 1)
    client = CheckpointClient(None, path, log.tree.consistency_proof, policy=policy)
    with pytest.raises(ProofError) as info:
        client.observe(log.note(4))  # signed by the log alone
    assert info.value.code == "quorum_not_met"
    assert client.seen(ORIGIN) == []
    cp = client.observe(sign_note(log.checkpoint(4).body(), [log.key, w[0]]))
    assert cp.size == 4 and client.witnessed == [w[0].name]
    # pinning: first use remembers the key; the same key again is fine; another is refused
    client.pin_log_key(log.key.verifier())
    again = CheckpointClient(None, path)
    assert again.log_keys == {ORIGIN: log.key.verifier().encode()}
    assert again.pin_log_key(log.key.verifier()) == log.key.verifier()
    with pytest.raises(ProofError) as info:
        again.pin_log_key(SignerKey.generate(ORIGIN).verifier())
    assert info.value.code == "log_key_changed"
    assert [c.size for c in again.seen(ORIGIN)] == [4]
