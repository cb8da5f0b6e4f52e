"""The public transparency portal: server-rendered bilingual pages, SVG charts and the
in-browser verifier's assets. `api/routers/portal.py` and its `portal_*` siblings expose it
as routes."""
