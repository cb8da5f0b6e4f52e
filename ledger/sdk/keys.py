"""Signing-key files: Ethereum keystore v3 JSON (scrypt + AES-128-CTR) made and opened with
eth-account, so any wallet can read them. Keys never appear in output or logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from ledger.config import Settings
from ledger.core import codes
from ledger.core.errors import KeyFileError

PASSWORD_ENV = "BANGFU_KEY_PASSWORD"
MIN_PASSWORD = 8


def password_from_env(settings: Settings | None = None) -> str | None:
    """The key password (BANGFU_KEY_PASSWORD, through Settings), or None when it is not set.

    Without `settings` it reads them afresh: the SDK is a library, and its caller may set
    the variable after the process started."""
    value = (settings or Settings()).key_password
    if value is None or not value.get_secret_value():
        return None
    return value.get_secret_value()


def resolve_password(
    prompt: Callable[[], str] | None = None,
    *,
    settings: Settings | None = None,
    new: bool = False,
) -> str:
    """The password from BANGFU_KEY_PASSWORD, else from `prompt`; refuses short passwords
    for new keys."""
    password = password_from_env(settings)
    if password is None and prompt is not None:
        password = prompt()
    if not password:
        raise KeyFileError(
            f"no key password: set {PASSWORD_ENV} or run in a terminal to be asked",
            code=codes.NO_PASSWORD,
        )
    if new and len(password) < MIN_PASSWORD:
        raise KeyFileError(
            f"the password must have at least {MIN_PASSWORD} characters", code=codes.WEAK_PASSWORD
        )
    return password


def encrypt_key(
    private_key: bytes, password: str, *, iterations: int | None = None
) -> dict[str, Any]:
    """A keystore v3 document for `private_key` (`iterations` = scrypt n, default eth-account's).

    eth-keyfile writes the AES-CTR counter (`iv`) as a number's bytes, so one file in 256
    has a 15-byte iv, which ethers (the workspaces' browser library) and geth refuse. The
    counter is the same number written on its full 16 bytes, so the padded file decrypts to
    the same key everywhere."""
    doc = dict(Account.encrypt(private_key, password, iterations=iterations))
    params = doc["crypto"]["cipherparams"]
    params["iv"] = params["iv"].rjust(32, "0")
    return doc


def write_key_file(path: Path, keystore: dict[str, Any], *, overwrite: bool = False) -> None:
    """Writes a keystore readable by its owner only; never replaces a file unless asked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; choose another file name (keys are never overwritten)",
            code=codes.KEY_FILE_EXISTS,
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(keystore, fh)
        fh.flush()
        os.fsync(fh.fileno())


def create_key_file(path: Path, password: str, *, iterations: int | None = None) -> str:
    """Makes a new random key, stores it encrypted at `path`, and returns its address."""
    account: LocalAccount = Account.create()
    write_key_file(path, encrypt_key(account.key, password, iterations=iterations))
    return str(account.address)


def read_keystore(path: Path) -> dict[str, Any]:
    """The keystore JSON of `path`, checked for shape but not decrypted."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} does not exist", code=codes.KEY_FILE_NOT_FOUND
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise KeyFileError(
            f"{path} is not a keystore JSON file; make one with `bangfu keygen`"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("crypto") or data.get("Crypto"), dict):
        raise KeyFileError(f"{path} is not a keystore v3 file; make one with `bangfu keygen`")
    return data


def key_file_address(path: Path) -> str | None:
    """The address a key file states (without decrypting), if it states one."""
    address = read_keystore(path).get("address")
    if not isinstance(address, str):
        return None
    try:
        return str(to_checksum_address("0x" + address.removeprefix("0x")))
    except ValueError:
        return None


def decrypt_keystore(keystore: dict[str, Any], password: str, where: str = "key file") -> bytes:
    """The private key inside a keystore document."""
    try:
        return bytes(Account.decrypt(keystore, password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeyFileError(
                f"wrong password for {where}; check {PASSWORD_ENV}", code=codes.WRONG_PASSWORD
            ) from None
        raise KeyFileError(f"{where} cannot be decrypted: {exc}") from None
    except (KeyError, TypeError):
        raise KeyFileError(f"{where} is not a valid keystore v3 file") from None


def load_key_file(path: Path, password: str) -> LocalAccount:
    """The account stored in the key file at `path`."""
    account: LocalAccount = Account.from_key(
        decrypt_keystore(read_keystore(path), password, str(path))
    )
    return account
