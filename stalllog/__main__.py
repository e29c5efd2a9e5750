"""`python -m stalllog` runs the command line."""

from stalllog.cli import main

main()
