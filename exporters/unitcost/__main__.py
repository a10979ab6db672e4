"""`python -m unitcost` is the `unitcost` command."""

from unitcost.cli.main import main

main()
