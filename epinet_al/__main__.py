"""`python -m epinet_al` is the `epinet-al` command."""

from epinet_al.cli import main

# Guarded: a data-parallel run started by spawn (trainer.strategy=auto, ddp_spawn) imports this module
# again in every process it starts, where it must not run the command a second time.
if __name__ == "__main__":
    main()
