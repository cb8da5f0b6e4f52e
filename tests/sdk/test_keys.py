"""Key files: keystore v3 round trip, wallet compatibility, and each way a file can be bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from ledger.core.errors import KeyFileError
from ledger.sdk.keys import (
    create_key_file,
    encrypt_key,
    key_file_address,
    load_key_file,
    resolve_password,
    write_key_file,
)

FAST = 2**10


def test_round_trip_and_file_hygiene(tmp_path: Path) -> None:
    path = tmp_path / "org.json"
    address = create_key_file(path, "correct horse", iterations=FAST)
    account = load_key_file(path, "correct horse")
    assert account.address == address == key_file_address(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert account.key.hex() not in path.read_text()
    # Any wallet that reads keystore v3 reads it: eth-account's own decrypt.
    assert Account.decrypt(json.loads(path.read_text()), "correct horse") == account.key
    with pytest.raises(KeyFileError) as exc:
        create_key_file(path, "correct horse", iterations=FAST)
    assert exc.value.code == "key_file_exists"
    assert load_key_file(path, "correct horse").address == address  # untouched


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "key_file_not_found"),
        ("not json", "bad_key_file"),
        ('{"address": "00"}', "bad_key_file"),
        ("[1, 2]", "bad_key_file"),
        ('{"crypto": {"cipher": "rot13"}, "version": 3}', "bad_key_file"),
    ],
)
def test_bad_key_files(tmp_path: Path, content: str | None, code: str) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeyFileError) as exc:
        load_key_file(path, "whatever1")
    assert exc.value.code == code


def test_wrong_password(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    acct = Account.create()
    write_key_file(path, encrypt_key(bytes(acct.key), "right password", iterations=FAST))
    with pytest.raises(KeyFileError) as exc:
        load_key_file(path, "wrong password")
    assert exc.value.code == "wrong_password"
    assert "BANGFU_KEY_PASSWORD" in exc.value.message


def test_password_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BANGFU_KEY_PASSWORD", raising=False)
    with pytest.raises(KeyFileError) as exc:
        resolve_password(None)
    assert exc.value.code == "no_password"
    assert resolve_password(lambda: "from prompt") == "from prompt"
    with pytest.raises(KeyFileError) as exc:
        resolve_password(lambda: "short", new=True)
    assert exc.value.code == "weak_password"
    monkeypatch.setenv("BANGFU_KEY_PASSWORD", "from environment")
    assert resolve_password(lambda: "from prompt") == "from environment"


def test_a_keystore_iv_is_written_on_its_full_16_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """eth-keyfile writes the AES-CTR counter as a number's bytes: with a leading zero byte
    (one file in 256) the iv was 15 bytes, which the browser's ethers refused. Ours is always
    32 hex digits and still decrypts to the same key."""
    import eth_keyfile.keyfile as kf

    real = kf.Random.get_random_bytes
    monkeypatch.setattr(kf.Random, "get_random_bytes", lambda n: b"\x00" + real(n - 1))
    key = bytes(range(1, 33))
    raw = Account.encrypt(key, "correct horse", iterations=2)
    assert len(raw["crypto"]["cipherparams"]["iv"]) < 32  # eth-keyfile's short iv
    doc = encrypt_key(key, "correct horse", iterations=2)
    assert len(doc["crypto"]["cipherparams"]["iv"]) == 32
    assert bytes(Account.decrypt(doc, "correct horse")) == key
