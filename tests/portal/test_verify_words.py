"""The record in words is the same in Python (ledger.core.words, what the pages and the bundle's
`display` section say) and in the browser verifier (web/verifier.js, what it decodes from the
bytes it checked); names come only from the server and are marked so. And the verifier's node
URL: the deployment's public one, else the local anvil's, else none with an explanation."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.app import LedgerService
from ledger.evm.localchain import load_localchain, public_rpc_url
from ledger.tools.proofcheck import verify_bundle
from tests.node import run_module

from .conftest import World
from .test_tx_words import VisibleText

JS = """
import { readFileSync } from "node:fs";
import { verifyBundle, recordWords } from "./web/verifier.js";
const bundles = JSON.parse(readFileSync(0, "utf-8"));
console.log(JSON.stringify(bundles.map((b) => {
  const r = verifyBundle(b);
  return { ok: r.ok, words: r.parsed ? recordWords(r.parsed, b.display) : null };
})));
"""


def test_the_browser_says_what_the_server_says(client: TestClient, world: World) -> None:
    names = sorted(world.records)
    bundles = [client.get(f"/api/v1/proofs/bundle/{world.records[n]}").json() for n in names]
    for name, bundle in zip(names, bundles, strict=True):
        display = bundle["display"]
        assert display["source"] == "server" and "not part of what is verified" in display["note"]
        verify_bundle(bundle)  # the stdlib verifier reads past the display section
        assert name and display["fields"]
    results = run_module(JS, bundles)
    for name, bundle, result in zip(names, bundles, results, strict=True):
        assert result["ok"], name
        js = {f["key"]: f for f in result["words"]}  # type: ignore[union-attr]
        for f in bundle["display"]["fields"]:
            mine = js[f["key"]]
            if f["signed"]:
                # a field of the signed bytes: the browser decodes it itself, to the same words
                assert mine["source"] == "record", (name, f["key"])
                assert (mine["zh"], mine["en"]) == (f["zh"], f["en"]), (name, f, mine)
                assert (mine["label_zh"], mine["label_en"]) == (f["label_zh"], f["label_en"])
                assert not mine["differs"], (name, f, mine)
            else:
                # a name: shown as the server's, checked against the record where it can be
                assert mine["source"] == "server", (name, f["key"])
                assert not mine["mismatch"], (name, f, mine)
    # a server that names the wrong signer is caught: the raw value is not the record's
    lying = json.loads(json.dumps(bundles[0]))
    for f in lying["display"]["fields"]:
        if f["key"] == "signer":
            f["raw"] = "0x" + "11" * 20
        if f["key"] == "kind":
            f["zh"] = "别的记录"
    words = {f["key"]: f for f in run_module(JS, [lying])[0]["words"]}  # type: ignore[union-attr]
    assert words["signer"]["mismatch"] is True
    assert words["kind"]["differs"] is True and words["kind"]["zh"] != "别的记录"


def test_the_node_url_is_the_public_one_else_the_local_anvil_else_none(world: World) -> None:
    s = world.service.settings
    local = load_localchain(s).rpc_url
    assert s.public_rpc_url is None
    assert public_rpc_url(s) == local  # the tests' ledger runs on its local anvil
    assert public_rpc_url(s.model_copy(update={"rpc_url": None})) == local
    assert public_rpc_url(s.model_copy(update={"rpc_url": local + "/"})) == local
    public = "https://rpc.example.org/bangfu"
    assert public_rpc_url(s.model_copy(update={"public_rpc_url": public})) == public
    # a node of its own (maybe an intranet address, maybe a key in the URL) is never shown
    assert public_rpc_url(s.model_copy(update={"rpc_url": "http://10.1.2.3:8545/k3y"})) is None


def test_without_a_public_node_the_field_is_empty_and_says_why(world: World) -> None:
    settings = world.service.settings.model_copy(update={"rpc_url": "http://10.1.2.3:8545/k3y"})
    service = LedgerService(settings)
    try:
        with TestClient(create_app(service)) as http:
            res = http.get(f"/verify?id={world.records['c:funds']}")
            assert res.status_code == 200
            assert 'id="rpc" type="url" value=""' in res.text
            assert "10.1.2.3" not in res.text and "None" not in res.text
            text = VisibleText.of(res.text)
            assert "本部署没有公布节点地址" in text and "chain id 31337" in text
            assert "只有对照链上的 logRoot()" in text
            text = VisibleText.of(http.get("/verify?lang=en").text)
            assert "publishes no node URL (BANGFU_PUBLIC_RPC_URL)" in text
    finally:
        service.close()
    # with one, it is filled in and says whose it is
    public = "https://rpc.example.org/bangfu"
    service = LedgerService(world.service.settings.model_copy(update={"public_rpc_url": public}))
    try:
        with TestClient(create_app(service)) as http:
            body = http.get("/verify").text
            assert f'id="rpc" type="url" value="{public}"' in body
            assert "已填入本部署公布的节点地址" in VisibleText.of(body)
    finally:
        service.close()
