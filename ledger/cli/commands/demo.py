"""`bangfu demo`: fills a dev ledger through the real HTTP API with a synthetic province.

Everything goes through the API a county or organization would use (drafts, signed
publishing, 接单 matches, signed records, a CSV delivery batch); only role registration is
an admin transaction on chain. Keys come from anvil's public development mnemonic; names
are invented and no personal data is made: beneficiaries are pseudonyms of obviously
synthetic ID numbers.

The demo is idempotent: running it again, after a finished run or one that failed half-way,
neither duplicates nor fails. Record ids are derived from the deployment (its chain id and
contract address) and scoped to their signer, so a rerun finds each record by id and sends
only the missing ones; projects and matches are found again from a small state file under
var/ (and published projects by owner and title), and resumed where they stopped.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.cli.commands.demo_steps import (
    FUND_NEED,
    FUND_ORG,
    PAIRING_COUNTY,
    Sent,
    commitment_and_deliveries,
    fund_records,
    fund_source,
    indexed,
    load_key_counties,
    missing_ids,
    open_fund,
    pairing_records,
    pairing_sources,
    publish,
    register_roles,
    submit_csv_batch,
    submit_missing,
    take,
    wait_confirmed,
    wait_indexed,
)
from ledger.cli.commands.demo_world import (
    AUDITOR_NAME,
    BATCH_NEED,
    COUNTIES,
    NEEDS,
    ORG_DIVISION,
    ORGS,
    VILLAGES,
    Actor,
    DemoState,
    Ids,
    demo_account,
)
from ledger.config import get_settings
from ledger.core.aid_kinds import Flag, Receipt
from ledger.core.fields import BEIJING, FlagReason
from ledger.evm.contract import LedgerContract
from ledger.evm.deploy import Deployment, connect
from ledger.library.regions import make_org_code
from ledger.sdk.client import BangfuClient

NAME = ""
out = Console()
app = typer.Typer()


@app.command("demo")
def demo(
    api: str = typer.Option("", help="接口地址 API base URL (default: this machine's API)"),
    timeout: float = typer.Option(120, help="等待上链秒数 seconds to wait for confirmation"),
) -> None:
    """演示数据 Fill the dev ledger through the API with a synthetic province (贵州, 52);
    rerun it safely: it adds only what is missing."""
    settings = get_settings()
    base = api or f"http://{settings.api_host}:{settings.api_port}"
    counties = {
        code: Actor(demo_account(i), f"{name}乡村振兴局")
        for i, (code, name) in enumerate(COUNTIES.items())
    }
    orgs = [
        (make_org_code(p, ORG_DIVISION, f"MJ6DEM{i:03d}"), Actor(demo_account(10 + i), zh))
        for i, (p, zh, _en) in enumerate(ORGS)
    ]
    auditor = Actor(demo_account(19), AUDITOR_NAME)
    deployment = Deployment.load(settings)
    ledger = LedgerContract(connect(settings), deployment)
    deployed = ledger.w3.eth.get_block(deployment.block)["timestamp"]
    deployed_day = datetime.fromtimestamp(int(deployed), BEIJING).date()
    with (
        BangfuClient(base) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=out,
        ) as progress,
    ):
        domain = client.domain()
        ids = Ids.for_domain(domain)
        state = DemoState.load(settings.var_dir, domain)
        steps = progress.add_task("登记角色 registering roles", total=1)
        register_roles(ledger, counties, orgs, auditor)
        wait_indexed(client)
        load_key_counties(client)
        progress.advance(steps)

        task = progress.add_task("发布项目 publishing needs and supply", total=len(NEEDS) + 3)
        today = date.today()
        need_ids: list[str] = []
        for i, n in enumerate(NEEDS):
            content = {
                **n,
                "village": VILLAGES[n["county"]],
                "deadline": (today + timedelta(days=90)).isoformat(),
                "contact_role": "县乡村振兴局项目办",
            }
            need_ids.append(
                publish(client, state, f"need/{i}", "needs", counties[n["county"]], content)
            )
            progress.advance(task)
        for j, ((org_code, org), (_p, zh, _en)) in enumerate(zip(orgs, ORGS, strict=True)):
            supply = {
                "title": f"{zh}帮扶项目",
                "description": "面向贵州脱贫地区的资金、物资与技术服务",
                "categories": ["产业发展", "人才培育", "特殊群体关爱", "卫生健康"],
                "regions": [52],
                "capacity": [
                    {"kind": "funds", "quantity": 50_000_000},
                    {"kind": "goods", "quantity": 20000, "unit": "株", "item": "油茶苗"},
                    {"kind": "service", "quantity": 2000, "unit": "小时"},
                ],
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=365)).isoformat(),
            }
            publish(client, state, f"supply/{j}", "supply", org, supply, org_code)
            progress.advance(task)

        sent = Sent()
        # programs (issue 18): a pairing with the key county, proposed and accepted
        task = progress.add_task("结对帮扶 a pairing", total=1)
        pairing_org = orgs[0][1]
        pairing, acceptance = pairing_records(
            ids, pairing_org, counties[PAIRING_COUNTY], deployed_day
        )
        submit_missing(client, pairing_org, [pairing], sent)
        submit_missing(client, counties[PAIRING_COUNTY], [acceptance], sent)
        progress.advance(task)
        # programs (issue 18): a special fund in the third organization, with money received
        task = progress.add_task("专项基金 a special fund", total=1)
        fund_org = orgs[FUND_ORG][1]
        fund, fund_details, money = fund_records(ids, fund_org, deployed_day)
        open_fund(client, fund_org, fund, fund_details, sent)
        submit_missing(client, fund_org, [money], sent)
        progress.advance(task)
        task = progress.add_task("承诺与交付 commitments, deliveries", total=len(NEEDS))
        delivered: list[tuple[bytes, int]] = []  # (first delivery id, need index)
        for i, need_id in enumerate(need_ids):
            org_code, org = orgs[i % len(orgs)]
            county = counties[NEEDS[i]["county"]]
            commitment_id = ids(org.address, "commitment", i)
            match_id = "0x" + bytes(32).hex()
            if missing_ids(client, [commitment_id]):  # the match is needed only to commit
                match_id = take(client, state, f"match/{i}", need_id, org_code, org, county)
            records = commitment_and_deliveries(ids, i, need_id, match_id, org)
            submit_missing(client, org, records, sent)
            delivered.append((records[1].id, i))
            progress.advance(task)
        wait_confirmed(client, sent.ids, timeout, progress)
        wait_indexed(client)
        # programs (issue 18): the pairing organization's commitments in the county cite it
        cited = [
            ids(pairing_org.address, "commitment", i)
            for i, n in enumerate(NEEDS)
            if n["county"] == PAIRING_COUNTY and orgs[i % len(orgs)][1] is pairing_org
        ]
        submit_missing(client, pairing_org, pairing_sources(pairing, cited), sent)
        # programs (issue 18): the fund organization's commitment to need FUND_NEED draws on it
        assert orgs[FUND_NEED % len(orgs)][1] is fund_org
        fund_cid = ids(fund_org.address, "commitment", FUND_NEED)
        submit_missing(client, fund_org, [fund_source(fund, fund_cid, 3_000_000)], sent)

        task = progress.add_task("批量交付 a CSV delivery batch", total=1)
        batch_org = orgs[BATCH_NEED % len(orgs)][1]
        batch_unit = NEEDS[BATCH_NEED]["resources"][0]["unit"]
        batch_commitment = ids(batch_org.address, "commitment", BATCH_NEED)
        batch_id = submit_csv_batch(client, batch_org, batch_commitment, deployed_day, batch_unit)
        sent.ids.append(batch_id)
        progress.advance(task)

        task = progress.add_task("签收与审计 receipts and a flag", total=1)
        for j, (delivery_id, i) in enumerate(delivered):
            county = counties[NEEDS[i]["county"]]
            receipt_id = ids(county.address, "receipt", j)
            if not missing_ids(client, [receipt_id]):
                sent.ids.append("0x" + receipt_id.hex())
                continue
            qty = int(indexed(client, delivery_id, timeout)["record"]["quantity"])
            receipt = Receipt(
                id=receipt_id,
                delivery_id=delivery_id,
                # one county confirms a little less than delivered: an anomaly for the audit
                confirmed_quantity=qty - (1 if j == 2 else 0),
                note_hash=bytes(32),
            )
            submit_missing(client, county, [receipt], sent)
        flagged = ids(orgs[0][1].address, "delivery", 0, 4)  # need 0's second delivery
        flag = Flag(
            id=ids(auditor.address, "flag", 0),
            record_id=flagged,
            reason_code=int(FlagReason.EVIDENCE_MISMATCH),
            note_hash=bytes(32),
        )
        submit_missing(client, auditor, [flag], sent)
        wait_confirmed(client, sent.ids, timeout, progress)
        progress.advance(task)
    projects = len(need_ids) + len(orgs)
    out.print(
        f"[green]演示数据已上链 demo data is on chain[/]: {projects} published projects (a "
        f"ProjectAnchor record each) and {len(sent.ids)} more records ({sent.new} sent now, "
        f"{len(sent.ids) - sent.new} already there). Open {base}/ to browse it."
    )
