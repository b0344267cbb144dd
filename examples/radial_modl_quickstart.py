"""Radial MoDL on the built-in MNI152 anatomy: ``mrinets train radial_modl_quickstart``, from Python.

    python examples/radial_modl_quickstart.py [--set train.steps=100] [--output RUN_DIR]

The shipped config ``mrinets/configs/radial_modl_quickstart.yaml`` holds the model
(``NonCartesianMoDL``), the data (``data.builtin: mni152_noncartesian``, simulated on the 1 mm grid)
and the trajectory (32 golden-angle spokes); validation reports the model next to gridding and
CG-SENSE. Extra arguments are those of ``mrinets train``.
"""

import sys

from mrinets.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "radial_modl_quickstart", *sys.argv[1:]]))
