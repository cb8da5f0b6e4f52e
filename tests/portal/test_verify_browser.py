"""The verify page in a real browser (Debian's chromium), with the default settings and no
node URL typed in: a genuine record verifies on the first click against the local anvil and
reads in words (organization name, ¥ amount, project title, Beijing time); a bundle with a
changed quantity, and a forged bundle whose proof is self-consistent but whose root is not on
chain, fail with bilingual messages. Screenshots go to test-artifacts/verify/."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.config import PROJECT_ROOT
from ledger.core.lines import new_id
from ledger.core.records import FORMAT_VERSION, SignedRecord
from ledger.evm.localchain import public_rpc_url
from ledger.store.models import LogEntry
from tests.browser import launch, needs_chromium, sync_api, watched_page
from tests.conftest import ChainEnv
from tests.factories import ORG_NAME_A

from .conftest import Served

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "verify"
BUNDLE = PROJECT_ROOT / "api" / "web" / "static" / "dist" / "verify.js"
#: "中文…：中文细节 / English": a Chinese name and detail first, the English beside.
BILINGUAL = re.compile(r"[\u4e00-\u9fff].*：.*[\u4e00-\u9fff].* / [A-Za-z]")

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # built from web/ as `npm run build:web` does at setup (rebuilt: these tests check the
    # words the current source renders)
    subprocess.run(["npm", "run", "--silent", "build:web"], cwd=PROJECT_ROOT, check=True)
    assert BUNDLE.exists()
    yield from launch(ARTIFACTS)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _run(pg: Any, bundle: dict[str, Any] | None = None) -> Any:
    if bundle is not None:
        pg.fill("#bundle", json.dumps(bundle))
    pg.click("#run")
    return pg.locator("#verdict")


def _first_failure(pg: Any) -> str:
    return str(pg.locator("#checks li.fail").first.inner_text())


def test_a_genuine_record_verifies_on_first_click_and_reads_in_words(
    page: Any, served: Served
) -> None:
    pg, world = page, served.world
    expect = sync_api.expect
    pg.goto(f"{served.url}/verify?id={world.records['c:funds']}")
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
    # the default settings: no BANGFU_PUBLIC_RPC_URL, the ledger on the local anvil
    assert world.service.settings.public_rpc_url is None
    rpc = public_rpc_url(world.service.settings)
    assert rpc and rpc != "None"
    expect(pg.locator("#rpc")).to_have_value(rpc)
    # nothing typed: one click
    verdict = _run(pg)
    expect(verdict).to_have_attribute("data-status", "ok")
    expect(verdict).to_contain_text("验证通过")
    expect(verdict).to_contain_text("Verified")
    decoded = pg.locator("#decoded")
    expect(decoded).to_be_visible()
    expect(decoded).to_have_attribute("data-status", "ok")
    quantity = pg.locator("#decoded-fields dd[data-field=quantity]")
    expect(quantity).to_contain_text("¥120,000.00")
    expect(quantity).to_have_attribute("data-source", "record")  # decoded from the bytes
    expect(pg.locator("#decoded-fields dd[data-field=due_date]")).to_contain_text("北京时间")
    signer = pg.locator("#decoded-fields dd[data-field=signer]")
    expect(signer).to_contain_text(ORG_NAME_A)
    expect(signer).to_have_attribute("data-source", "server")  # a name: not verified
    expect(signer).to_contain_text("服务器提供，未验证")
    expect(pg.locator("#decoded-fields dd[data-field=need]")).to_contain_text("者楼小学营养午餐")
    expect(pg.locator("#decoded-note")).to_contain_text("不属于验证的内容")
    expect(pg.locator("#decoded-note")).to_contain_text("not part of what was verified")
    assert pg.locator("#decoded-fields dd[data-differs]").count() == 0
    assert pg.locator("#decoded-fields dd[data-mismatch]").count() == 0
    # the server's words too: the record in words above the verifier, hex out of sight
    expect(pg.locator("#record")).to_contain_text(ORG_NAME_A)
    expect(pg.locator("#record")).to_contain_text("北京时间")
    expect(pg.locator("#record-raw")).not_to_have_attribute("open", "")
    shot(pg, "01-verify-genuine")

    # a delivery of goods: its unit comes with the server's names, its number is checked
    pg.goto(f"{served.url}/verify?id={world.records['d:goods']}")
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
    expect(_run(pg)).to_have_attribute("data-status", "ok")
    q = pg.locator("#decoded-fields dd[data-field=quantity]")
    expect(q).to_contain_text("200 箱")
    expect(q).to_have_attribute("data-source", "server")
    assert q.get_attribute("data-mismatch") is None
    shot(pg, "02-verify-goods-delivery")


def _quantity_changed(bundle: dict[str, Any], fix_leaf: bool) -> dict[str, Any]:
    """The commitment's quantity (its 5th 32-byte field) raised by ¥10,000; with `fix_leaf`
    the leaf hash is recomputed so the failure is the inclusion proof's."""
    out = json.loads(json.dumps(bundle))
    raw = bytearray.fromhex(out["record"]["bytes"][2:])
    at = 74 + 4 * 32
    value = int.from_bytes(raw[at : at + 32], "big") + 1_000_000
    raw[at : at + 32] = value.to_bytes(32, "big")
    out["record"]["bytes"] = "0x" + raw.hex()
    if fix_leaf:
        out["record"]["leaf_hash"] = "0x" + hashlib.sha256(b"\0" + bytes(raw)).hexdigest()
    return out


def test_a_changed_quantity_fails_in_both_languages(page: Any, served: Served) -> None:
    pg, world = page, served.world
    expect = sync_api.expect
    pg.goto(f"{served.url}/verify?id={world.records['c:funds']}")
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
    genuine = json.loads(pg.input_value("#bundle"))

    verdict = _run(pg, _quantity_changed(genuine, fix_leaf=False))
    expect(verdict).to_have_attribute("data-status", "fail")
    expect(verdict).to_contain_text("验证失败")
    expect(verdict).to_contain_text("Verification failed")
    leaf = pg.locator("#checks li[data-check=leaf]")
    expect(leaf).to_have_class("fail")
    expect(leaf).to_have_attribute("data-code", "bad_leaf_hash")
    assert BILINGUAL.search(_first_failure(pg)), _first_failure(pg)
    expect(leaf).to_contain_text("记录内容被改动过")
    # the words say what the tampered record claims, and that it is not to be trusted
    expect(pg.locator("#decoded")).to_have_attribute("data-status", "fail")
    expect(pg.locator("#decoded-fields dd[data-field=quantity]")).to_contain_text("¥130,000.00")
    expect(pg.locator("#decoded-note")).to_contain_text("不可信")
    shot(pg, "03-verify-quantity-changed")

    verdict = _run(pg, _quantity_changed(genuine, fix_leaf=True))
    expect(verdict).to_have_attribute("data-status", "fail")
    inclusion = pg.locator("#checks li[data-check=inclusion]")
    expect(inclusion).to_have_class("fail")
    assert BILINGUAL.search(_first_failure(pg)), _first_failure(pg)
    # the signature no longer covers the fields either
    expect(pg.locator("#checks li[data-check=signature]")).to_have_class("fail")
    shot(pg, "04-verify-quantity-changed-leaf-recomputed")


def test_a_forged_self_consistent_bundle_fails_against_the_chain(
    page: Any, served: Served, env: ChainEnv
) -> None:
    """A real organization's key signs a record that was never sent: a one-leaf tree whose
    root is its own leaf is self-consistent, and only the chain can tell it is not the log."""
    pg, world = page, served.world
    expect = sync_api.expect
    org_a = env.actors.org_a
    genuine = world.signed["c:funds"]
    domain = world.service.deployment.domain
    fake = dataclasses.replace(genuine.record, id=new_id(org_a.address), quantity=99_000_000)
    signed: SignedRecord = fake.sign(org_a.key, domain)
    data = signed.canonical_bytes()
    assert data[0] == FORMAT_VERSION
    leaf = "0x" + hashlib.sha256(b"\0" + data).hexdigest()
    forged = {
        "format": "bangfu-proof/1",
        "record": {"bytes": "0x" + data.hex(), "leaf_hash": leaf, "index": 0},
        "log": {"size": 1, "root": leaf, "inclusion": []},
        "batch": None,
        "consistency": None,
        "chain": {"chain_id": domain.chain_id, "contract": domain.verifying_contract},
    }
    pg.goto(f"{served.url}/verify")
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
    expect(pg.locator("#rpc")).to_have_value(public_rpc_url(world.service.settings) or "x")
    verdict = _run(pg, forged)
    expect(verdict).to_have_attribute("data-status", "fail")
    for name in ("leaf", "inclusion", "signature"):
        expect(pg.locator(f"#checks li[data-check={name}]")).to_have_class("ok")
    chain = pg.locator("#checks li[data-check=chain]")
    expect(chain).to_have_class("fail")
    expect(chain).to_have_attribute("data-code", "root_mismatch")
    text = str(chain.inner_text())
    assert BILINGUAL.search(text), text
    assert "不在链上的日志中" in text and "neither the bundle's log root" in text
    # its words are shown (no display section: nothing from the server), as not to be trusted
    expect(pg.locator("#decoded")).to_have_attribute("data-status", "fail")
    expect(pg.locator("#decoded-fields dd[data-field=quantity]")).to_contain_text("¥990,000.00")
    assert pg.locator("#decoded-fields dd[data-source=server]").count() == 0
    shot(pg, "05-verify-forged-consistent")

    # with no node URL the same bundle is "not verified", never "verified", and says why
    pg.fill("#rpc", "")
    verdict = _run(pg)
    expect(verdict).to_have_attribute("data-status", "unanchored")
    expect(verdict).to_contain_text("未核验")
    expect(pg.locator("#checks li[data-check=chain]")).to_contain_text("请填写节点地址")
    shot(pg, "06-verify-no-node")


def test_an_unreachable_node_fails_in_both_languages(page: Any, served: Served) -> None:
    pg, world = page, served.world
    expect = sync_api.expect
    pg.goto(f"{served.url}/verify?id={world.records['r:funds1']}")
    expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
    pg.fill("#rpc", "http://127.0.0.1:9")  # nothing listens on the discard port
    verdict = _run(pg)
    expect(verdict).to_have_attribute("data-status", "fail")
    chain = pg.locator("#checks li[data-check=chain]")
    expect(chain).to_have_attribute("data-code", "chain_unreachable")
    text = str(chain.inner_text())
    assert BILINGUAL.search(text), text
    assert "无法从" in text and "cannot read eth_chainId" in text


@pytest.mark.parametrize("width", [390, 1280])
def test_tx_and_verify_pages_read_in_words_and_fit(
    browser: Any, served: Served, width: int
) -> None:
    """The tx page names its signers by role and shows no 64-hex string in the visible text;
    both pages fit the viewport (no sideways scroll), before and after a verification."""
    world = served.world
    with watched_page(browser, viewport={"width": width, "height": 900}, locale="zh-CN") as pg:
        expect = sync_api.expect
        hex64 = re.compile(r"0x[0-9a-fA-F]{64}")
        with world.service.db.read() as s:
            tx = s.query(LogEntry).filter_by(record_id=world.records["r:funds1"]).one().tx_hash
        pg.goto(f"{served.url}/tx/{tx}")
        main = str(pg.locator("main").inner_text())
        assert not hex64.findall(main), main
        assert "县级乡村振兴部门 册亨县" in main and "北京时间" in main
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        shot(pg, f"07-tx-{width}")
        pg.locator("#tx-raw summary").click()  # the hashes, one click away
        expect(pg.locator("#tx-raw")).to_contain_text(tx)
        pg.goto(f"{served.url}/verify?id={world.records['d:funds1']}")
        expect(pg.locator("html")).to_have_attribute("data-verifier", "ready")
        expect(_run(pg)).to_have_attribute("data-status", "ok")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        shot(pg, f"08-verify-{width}")
