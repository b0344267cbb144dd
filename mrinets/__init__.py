"""mrinets: complex-valued Keras 3 layers and networks for MRI reconstruction."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from mrinets._version import __version__  # noqa: E402
from mrinets.registry import hookimpl  # noqa: E402
from mrinets.saving import load_model  # noqa: E402

__all__ = ["__version__", "hookimpl", "load_model"]
