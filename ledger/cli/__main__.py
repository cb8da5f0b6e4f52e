"""`python -m ledger.cli`: the same as `bangfu`."""

from ledger.cli.main import main

main()
