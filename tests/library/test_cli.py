"""`bangfu library key-counties load`: signed by the admin's key, versioned; a replayed or
unsigned-by-admin list is one line with its code (through the real console script)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.evm.test_chain_cli import run


def test_key_county_load_is_signed_and_versioned(env, tmp_path):
    db = tmp_path / "cli.sqlite3"
    csv = tmp_path / "key.csv"
    csv.write_text("code\n522327\n522326\n", encoding="utf-8")
    s = env.settings
    settings = {
        "home": s.home,
        "var": s.var,
        "localchain_file": s.localchain_file,
        "rpc_url": s.rpc_url or "",
        "database_url": f"sqlite:///{db}",
        "library_admins": env.actors.admin.address,
        "library_admin_key": env.actors.admin.key.hex(),
    }
    args = ["library", "key-counties", "load", str(csv), "--source", "国乡振发 sample"]
    first = run(args, tmp_path, settings)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "version 1" in first.stdout
    again = run([*args, "--version", "1"], tmp_path, settings)
    assert again.returncode == 1 and "list_version_not_newer" in again.stdout + again.stderr
    assert "Traceback" not in again.stdout + again.stderr
    stranger = run(args, tmp_path, {**settings, "library_admin_key": env.actors.stranger.key.hex()})
    assert stranger.returncode == 1 and "not_admin" in stranger.stdout + stranger.stderr
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version FROM library_key_county_lists")).all()
        codes = conn.execute(text("SELECT code FROM library_key_counties ORDER BY code")).all()
    engine.dispose()
    assert [v[0] for v in versions] == [1] and [c[0] for c in codes] == [522326, 522327]
