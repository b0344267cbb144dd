"""Loading ``.keras`` model files safely.

``load_model`` always uses Keras' ``safe_mode=True`` and refuses, with a message naming the file
and the layer, a model that holds Python code (a ``Lambda`` layer) or a class that no installed
package registers. mrinets' own layers and every plugin's layers are registered before loading.
"""

import json
import os
import re
import zipfile

from mrinets.errors import ModelFileError


def _layers(node):
    """Every ``{"class_name": ..., "config": ...}`` mapping inside a serialized Keras config."""
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value)


def _read_config(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError, OSError) as error:
        raise ModelFileError(f"Model file {path!r} is not a readable .keras file: {error}") from error


def load_model(path, compile=False):
    """Load a ``.keras`` file with Keras' safe mode; returns the Keras model.

    Args:
        path: a ``.keras`` file (the zip format of ``model.save("x.keras")``).
        compile: also restore the training configuration (loss, optimizer).

    Raises:
        FileNotFoundError: no such file.
        ModelFileError: not a ``.keras`` file, a ``Lambda`` layer (Python code), or a class that
            no installed package registers.
    """
    import keras

    from mrinets import registry

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path!r} does not exist.")
    if not path.endswith(".keras"):
        raise ModelFileError(f"Model file {path!r}: expected a .keras file (Keras 3's zip format).")
    for node in _layers(_read_config(path)):
        if node.get("class_name") == "Lambda":
            name = (node.get("config") or {}).get("name", "?")
            raise ModelFileError(
                f"Model file {path!r} holds a Lambda layer {name!r}, that is Python code; mrinets loads models "
                "in Keras safe mode and refuses to run code from a file. Replace the Lambda by a registered layer."
            )
    registry.plugins()  # registers every plugin's layers with Keras' serialization
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (TypeError, ValueError) as error:
        unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if unknown:
            raise ModelFileError(
                f"Model file {path!r} uses the class {unknown[1]!r}, which no installed package registers; install "
                "the plugin that provides it (see `mrinets plugins`)."
            ) from error
        raise ModelFileError(f"Model file {path!r} cannot be loaded in Keras safe mode: {error}") from error
