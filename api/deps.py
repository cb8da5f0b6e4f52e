"""Dependencies shared by the routers: the ledger service, a read session, and the database
to write with.

Reads and writes are kept apart (the rule is in `ledger.store.db`):

* `ReadSessionDep` is a read-only session for the whole request. The database refuses a
  write in it, so a route that means to write cannot do it through this by mistake.
* Writes get no session from a dependency: FastAPI (0.118) runs a yield dependency's exit
  code after the response has been sent, so a commit there would come after the answer,
  and a failed commit would be a "success" lost. A writing route takes `WriterDep` and
  writes in `with db.write() as session:`; the block commits before the route returns,
  and a failed commit raises, which becomes an error response.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ledger.app import LedgerService
from ledger.store.db import Database


async def get_service(request: Request) -> LedgerService:
    # async: FastAPI would run a plain function on its thread pool, a hop per request
    # for one attribute read.
    service: LedgerService = request.app.state.service
    return service


ServiceDep = Annotated[LedgerService, Depends(get_service)]


def get_read_session(service: ServiceDep) -> Iterator[Session]:
    with service.db.read() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def get_writer(service: ServiceDep) -> Database:
    return service.db


WriterDep = Annotated[Database, Depends(get_writer)]

# The old name, for routes written before reads and writes were split: it is read-only now.
SessionDep = ReadSessionDep
