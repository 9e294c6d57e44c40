"""`python -m pushgate_cli`: the `pushgate` command without its console script."""

from pushgate_cli.main import main

main(prog_name="pushgate")
