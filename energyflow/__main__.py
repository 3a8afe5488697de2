"""``python -m energyflow``: the command line (also under ``torchrun -m energyflow``)."""

from energyflow.cli import main

if __name__ == "__main__":
    main()
