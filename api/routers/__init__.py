"""One module per audience; each exposes `router` and is included by api.app."""
