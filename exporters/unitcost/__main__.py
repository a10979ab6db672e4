"""`python -m unitcost` is the `unitcost` command."""

from unitcost.cli import main

main()
