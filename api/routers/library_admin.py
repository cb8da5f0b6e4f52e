"""What the library admin signs, over HTTP: the list of nationally designated key counties
(重点帮扶县), which anyone reads and the admin loads with a signed KeyCountyList, and the
signed bundles of projects imported from another instance (a LibraryImport)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ReadSessionDep, ServiceDep
from api.routers.library import PREFIX, TAGS, Signed
from api.schemas import signed_message
from ledger.library import actions
from ledger.library import key_counties as key_county_list
from ledger.library.messages import KEY_COUNTY_LIST, LIBRARY_IMPORT

router = APIRouter(prefix=PREFIX, tags=TAGS)


class KeyCountiesIn(Signed):
    message: signed_message(KEY_COUNTY_LIST) = None  # type: ignore[valid-type]


class ImportIn(Signed):
    message: signed_message(LIBRARY_IMPORT) = None  # type: ignore[valid-type]
    bundle: dict[str, Any]


@router.get("/key-counties", summary="重点帮扶县 Key counties")
def key_counties(session: ReadSessionDep) -> list[dict[str, Any]]:
    return [
        {"code": k.code, "name": k.name, "source": k.source}
        for k in key_county_list.key_counties(session)
    ]


@router.get("/key-counties/version", summary="名单版本 Version of the key-county list")
def key_county_version(session: ReadSessionDep) -> dict[str, int]:
    """A new list must carry a higher version."""
    return {"version": key_county_list.key_county_list_version(session)}


@router.put("/key-counties", summary="载入重点帮扶县 Load key counties (admin)")
def load_key_counties(body: KeyCountiesIn, service: ServiceDep) -> dict[str, Any]:
    """The library admin's signed KeyCountyList (codes, source, version above the loaded one)."""
    return actions.load_key_counties(service, body.message, body.signature)


@router.post("/bundles/import", summary="导入共享包 Import a signed bundle (admin)")
def import_bundle(body: ImportIn, service: ServiceDep) -> dict[str, Any]:
    """The library admin's signed LibraryImport naming the bundle's hash; the exporter must
    be in BANGFU_LIBRARY_TRUSTED_EXPORTERS."""
    return {"imported": actions.import_bundle(service, body.bundle, body.message, body.signature)}
