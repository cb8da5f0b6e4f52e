"""The local chain's state file survives kill -9 at any instant: good copies written by
temp-fsync-rename, validation on start, recovery from the newest good copy with a one-line
message naming the lost blocks, and one-line errors for a state file that is not anvil's or
a state directory that is not writable. Real anvil, real `bangfu chain up` processes."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.config import PROJECT_ROOT, Settings
from ledger.core.errors import StateFileError
from ledger.evm.localchain import load_localchain
from ledger.evm.node import LocalChain
from ledger.evm.state import StateFiles, check_dump, read_state
from ledger.indexer.rebuild import digest, rebuild
from ledger.indexer.worker import Indexer
from ledger.store.db import Database
from ledger.store.models import LogEntry
from tests.evm.test_chain_cli import assert_clean_failure, run
from tests.factories import COUNTY_A, ChainEnv, free_port, start_env, write_localchain
from tests.service.crashkit import need, wait_until


def _dump(block: int, extra: int = 0) -> bytes:
    """A small document with the shape of an anvil state (what read_state checks)."""
    return json.dumps(
        {
            "block": {"number": hex(block)},
            "accounts": {},
            "best_block_number": block,
            "blocks": [{"n": i} for i in range(block + 1 + extra)],
            "transactions": [],
        }
    ).encode()


# ---------------------------------------------------------------- validation and copies


def test_read_state_accepts_anvil_and_names_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(_dump(7))
    assert read_state(good).block == 7
    cases = {
        "empty": (b"", "is empty"),
        "torn": (_dump(7)[:40], "is not JSON"),
        "binary": (b"\x1f\x8b\x08\x00garbage", "is not JSON"),
        "not-anvil": (b'{"hello": "world"}', "not an anvil state"),
        "no-blocks": (b'{"block": {}, "accounts": {}, "blocks": []}', "not an anvil state"),
    }
    for name, (data, phrase) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        with pytest.raises(StateFileError) as err:
            read_state(path)
        assert err.value.code == "bad_state_file"
        assert phrase in err.value.message, (name, err.value.message)
    with pytest.raises(StateFileError, match="is missing"):
        read_state(tmp_path / "absent.json")


def test_save_keeps_good_copies_and_never_leaves_the_state_file_missing(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "state.json", copies=3)
    for block in (1, 2, 3, 4):
        files.save(_dump(block), block=block)
        assert read_state(files.path).block == block
        assert files.saved_block() == block  # what a checkpoint may cover
        assert not files.tmp.exists()
    assert read_state(files.copy(1)).block == 3
    assert read_state(files.copy(2)).block == 2
    assert not files.copy(3).exists()
    one = StateFiles(tmp_path / "one.json", copies=1)
    one.save(_dump(1), block=1)
    one.save(_dump(2), block=2)
    assert read_state(one.path).block == 2 and not one.copy(1).exists()


def test_prepare_recovers_a_torn_state_file_from_the_newest_good_copy(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "state.json", copies=3)
    files.save(_dump(10), block=10)
    files.save(_dump(20), block=20)
    files.note_head(23)
    # a torn file, as anvil's own in-place rewrite leaves it after a kill -9
    files.path.write_bytes(_dump(20)[:100])
    files.tmp.write_bytes(b'{"half a co')  # an unfinished copy is never used
    assert files.saved_block() == 20
    recovery = files.prepare()
    assert recovery.block == 10 and read_state(files.path).block == 10
    assert files.saved_block() == 10, "the copy anvil loads is older: so is what is saved"
    assert recovery.message is not None and "\n" not in recovery.message
    assert "anvil resumes at block 10; blocks 11–23 were lost" in recovery.message
    assert "is not JSON" in recovery.message
    assert not files.tmp.exists()
    assert list(tmp_path.glob("state.json.bad-*")), "the torn file is kept aside, not deleted"


def test_prepare_keeps_a_valid_state_file_as_it_is(tmp_path: Path) -> None:
    """An operator's restored state file is used as given, not replaced by a newer copy."""
    files = StateFiles(tmp_path / "state.json", copies=3)
    files.save(_dump(30), block=30)
    files.path.unlink()
    files.path.write_bytes(_dump(5))
    recovery = files.prepare()
    assert recovery.block == 5 and recovery.source == files.path
    assert read_state(files.path).block == 5
    assert files.saved_block() == 5


def test_prepare_refuses_a_foreign_state_file_without_copies(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "state.json", copies=3)
    files.path.write_text('{"hello": "world"}')
    with pytest.raises(StateFileError) as err:
        files.prepare()
    assert "move it away" in err.value.message
    assert files.path.read_text() == '{"hello": "world"}', "never deleted"


def test_a_clean_exit_dump_is_promoted_and_a_torn_one_set_aside(tmp_path: Path) -> None:
    files = StateFiles(tmp_path / "state.json", copies=2)
    files.save(_dump(3), block=3)
    files.exit_dump.write_bytes(_dump(4))
    assert files.prepare().block == 4
    assert files.saved_block() == 4
    assert not files.exit_dump.exists()
    files.exit_dump.write_bytes(_dump(5)[:30])
    assert files.prepare().block == 4
    assert list(tmp_path.glob("state.json.exit-bad-*"))


# ---------------------------------------------------------------- a real chain


@pytest.fixture
def chain_env(tmp_path: Path) -> Iterator[ChainEnv]:
    e = start_env(tmp_path / "chain")  # automine, state saved every second
    yield e
    e.chain.down()


def _append(env: ChainEnv, n: int) -> None:
    for _ in range(n):
        signed = need(env.actors.county_a, COUNTY_A).sign(env.actors.county_a.key, env.domain)
        env.ledger.submit(signed, env.actors.relayers[0])


def _kill9(chain: LocalChain) -> None:
    """kill -9 of the keeper's process group (anvil dies with its keeper)."""
    pid = chain.pid()
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: chain.pid() is None and not chain.answers(), 30, "the chain to die")


def _cli_env(env: ChainEnv) -> dict[str, str | Path]:
    s = env.settings
    return {"var": s.var_dir, "localchain_file": s.path(s.localchain_file)}


def _saved(env: ChainEnv) -> int:
    """Waits for the keeper's next save at the current head; returns that head."""
    head = int(env.w3.eth.block_number)

    def saved() -> bool:
        try:
            return read_state(env.chain.state_file).block >= head
        except StateFileError:
            return False

    wait_until(saved, 30, "a save")
    return head


def _kill_anvil_and_wait(env: ChainEnv) -> None:
    """kill -9 of anvil alone; returns once its keeper has restarted it and it answers."""
    node = env.chain.node_pid()
    assert node is not None
    os.kill(node, signal.SIGKILL)
    wait_until(
        lambda: env.chain.node_pid() not in (None, node) and env.chain.answers(),
        60,
        "the keeper to restart anvil",
    )


def test_kill9_then_torn_state_file_recovers_with_one_line(chain_env: ChainEnv) -> None:
    env = chain_env
    _append(env, 1)
    _saved(env)
    _append(env, 2)
    saved = _saved(env)
    size = env.ledger.log_size()
    _kill9(env.chain)
    # what a kill -9 during anvil's in-place rewrite left behind before this change
    state = env.chain.state_file
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    up = run(["chain", "up"], env.settings.home, _cli_env(env))
    assert up.returncode == 0, up.stdout + up.stderr
    lines = [x for x in up.stdout.splitlines() if "本地链已恢复" in x]
    assert len(lines) == 1, up.stdout
    assert "is not JSON" in lines[0] and "anvil resumes at block" in lines[0]
    recovered = int(lines[0].split("anvil resumes at block ")[1].split(";")[0])
    assert recovered < saved
    assert int(env.w3.eth.block_number) >= recovered
    assert env.ledger.log_size() <= size  # an older, whole state: never a dead chain


def test_kill9_with_state_file_missing_recovers_from_a_copy(chain_env: ChainEnv) -> None:
    env = chain_env
    _append(env, 2)
    _saved(env)
    _append(env, 2)
    _saved(env)
    _kill9(env.chain)
    env.chain.state_file.unlink()
    pid, recovery = env.chain.start()
    assert pid and recovery is not None and recovery.message
    assert "was missing" in recovery.message
    assert env.ledger.log_size() >= 2


def test_clean_stop_keeps_every_block(chain_env: ChainEnv) -> None:
    env = chain_env
    _append(env, 3)
    head, size = int(env.w3.eth.block_number), env.ledger.log_size()
    assert env.chain.down()
    _, recovery = env.chain.start()
    assert recovery is not None and recovery.message is None
    assert int(env.w3.eth.block_number) == head and env.ledger.log_size() == size


def test_keeper_restarts_a_killed_anvil(chain_env: ChainEnv) -> None:
    env = chain_env
    _append(env, 2)
    _saved(env)
    _kill_anvil_and_wait(env)
    assert env.ledger.log_size() >= 2
    _append(env, 1)


def _number(value: object) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)  # type: ignore[call-overload]


def _without_newest_block(state: dict[str, object]) -> bytes:
    """The dump anvil makes when a block is mined between its read of the blocks and its
    read of the accounts: the accounts (and the contract's storage) hold that block, the
    blocks, transactions and logs do not."""
    blocks = state["blocks"]
    assert isinstance(blocks, list)
    newest = max(_number(b["header"]["number"]) for b in blocks)
    torn = dict(state)
    torn["blocks"] = [b for b in blocks if _number(b["header"]["number"]) != newest]
    txs = state["transactions"]
    assert isinstance(txs, list)
    torn["transactions"] = [t for t in txs if _number(t["block_number"]) != newest]
    torn["best_block_number"] = newest - 1
    return json.dumps(torn).encode()


def test_a_dump_is_kept_only_when_its_accounts_and_blocks_are_one_moment(
    chain_env: ChainEnv, tmp_path: Path
) -> None:
    """A real dump passes, before and after anvil restarts from a saved state (its
    transactions come back with it); the same dump less its newest block, which is what
    anvil 1.7 returns when a block is mined during `anvil_dumpState` (scripts/dump_race.py),
    is refused, and as an exit dump it is set aside while the good copy stays."""
    env = chain_env
    _append(env, 3)
    data = env.chain.dump()
    assert check_dump(data, "dump") == int(env.w3.eth.block_number)
    with pytest.raises(StateFileError) as err:
        check_dump(_without_newest_block(json.loads(data)), "dump")
    assert err.value.code == "dump_mismatch"
    relayer = env.actors.relayers[0].address.lower()
    assert relayer in err.value.message.lower() and "mined during the dump" in err.value.message

    _saved(env)
    _kill_anvil_and_wait(env)
    _append(env, 1)
    after = env.chain.dump()
    assert check_dump(after, "dump") == int(env.w3.eth.block_number)

    files = StateFiles(tmp_path / "state.json", copies=2)
    files.save(data, block=1)
    files.exit_dump.write_bytes(_without_newest_block(json.loads(after)))
    assert files.promote_exit_dump() is None
    assert files.path.read_bytes() == data
    assert list(tmp_path.glob("state.json.exit-bad-*"))


def test_rebuild_after_restart_without_historical_states(
    chain_env: ChainEnv, tmp_path: Path
) -> None:
    """anvil keeps no historical states across a restart: eth_call at an older block fails.
    The indexer's root check skips such blocks and checks at the next one it can, so a
    rebuild from genesis still works and equals the live index."""
    env = chain_env
    _append(env, 4)
    assert env.chain.down()
    env.chain.up()
    _append(env, 3)
    with pytest.raises(Exception, match=r"(?i)BlockOutOfRange"):
        env.ledger.log_state(2)
    live = Database(f"sqlite:///{tmp_path / 'live.sqlite3'}")
    live.migrate()
    Indexer(live, env.ledger, block_range=2).run_until_synced()
    rebuilt, status = rebuild(env.ledger, f"sqlite:///{tmp_path / 'again.sqlite3'}", block_range=3)
    assert status.log_size == env.ledger.log_size() == 7
    assert digest(live) == digest(rebuilt)
    with live.read() as s:
        assert list(s.scalars(select(LogEntry.leaf_index).order_by(LogEntry.leaf_index))) == list(
            range(7)
        )
    live.dispose()
    rebuilt.dispose()


# ---------------------------------------------------------------- bad input


def test_a_foreign_state_file_is_one_line_with_a_code(tmp_path: Path) -> None:
    state = tmp_path / "not-anvil.json"
    state.write_text('{"accounts": "mine", "notes": [1, 2, 3]}')
    toml = write_localchain(tmp_path / "localchain.toml", free_port(), state)
    result = run(["chain", "up"], tmp_path, {"var": tmp_path / "var", "localchain_file": toml})
    assert_clean_failure(result, "not an anvil state")
    assert "[bad_state_file]" in result.stderr and "move it away" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert state.read_text().startswith('{"accounts"'), "the file is left as it was"


def test_a_read_only_state_directory_is_one_line_with_a_code(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        where = Path("/sys/kernel")  # root writes anywhere but here (sysfs refuses files)
        assert where.is_dir()
    else:
        where = tmp_path / "read-only"
        where.mkdir()
        where.chmod(0o555)
    toml = write_localchain(tmp_path / "localchain.toml", free_port(), where / "state.json")
    result = run(["chain", "up"], tmp_path, {"var": tmp_path / "var", "localchain_file": toml})
    assert_clean_failure(result, "is not writable")
    assert "[state_dir_not_writable]" in result.stderr
    assert "state_file" in result.stderr and "localchain.toml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    settings = Settings(home=PROJECT_ROOT, var=tmp_path / "var", localchain_file=toml)
    assert LocalChain(load_localchain(settings), settings).pid() is None, "nothing started"
