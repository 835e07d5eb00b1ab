"""`python -m epinet_al` is the `epinet-al` command."""

from epinet_al.cli import main

main()
