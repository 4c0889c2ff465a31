"""``python -m market``: the ``market`` command."""

from market.cli import main

if __name__ == "__main__":
    main(prog_name="market")
