"""Datasets mrinets prepares once into its cache: fastMRI-layout ``train/`` and ``val/`` files.

A ``PreparedDataset`` wraps a ``prepare(cache_dir=None, **options) -> folder`` function; registering
one (``DATASETS["name"] = PreparedDataset(prepare_name)`` in the built-in plugin's table, or
``register(PreparedDataset(prepare), name=...)`` in a plugin's ``register_datasets``) makes it usable
as a training config's ``data.builtin: name`` with ``data.options`` checked against ``prepare``.
"""

import inspect
import os

SPLITS = ("train", "val")
#: File layouts: fastMRI's (read by ``build_dataset``) or the non-Cartesian one (``mrinets.data.noncartesian``).
LAYOUTS = ("fastmri", "noncartesian")


class PreparedDataset:
    """A registered dataset made once by ``prepare(cache_dir=None, **options)``, which returns its folder.

    Its arguments (what ``describe`` lists and a config's ``data.options`` are validated against) are
    ``prepare``'s options; ``cache_dir`` is the config's ``data.cache_dir``. Calling it reads one split
    through ``build_dataset`` (``layout="noncartesian"``: ``build_noncartesian_dataset``): the options go
    to ``prepare``, every other keyword to the reader.

    >>> ds = registry.get("dataset", "shepp_logan")("val", matrix=16, batch_size=2)  # doctest: +SKIP
    """

    def __init__(self, prepare, layout="fastmri"):
        if not callable(prepare):
            raise TypeError(f"Invalid value for argument `prepare`. Expected a function. Received: prepare={prepare!r}")
        signature = inspect.signature(prepare)
        if "cache_dir" not in signature.parameters:
            raise TypeError(
                "Invalid value for argument `prepare`. Expected a function with a `cache_dir` argument. "
                f"Received: prepare{signature}"
            )
        if layout not in LAYOUTS:
            raise ValueError(f"Invalid value for argument `layout`. Expected one of {LAYOUTS}. Received: layout={layout!r}")
        self.prepare, self.layout = prepare, layout
        self.options = tuple(name for name in signature.parameters if name != "cache_dir")
        self.__signature__ = signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "cache_dir"])
        self.__name__ = getattr(prepare, "__name__", type(self).__name__)
        self.__qualname__ = getattr(prepare, "__qualname__", self.__name__)
        self.__module__ = getattr(prepare, "__module__", __name__)
        self.__doc__ = prepare.__doc__

    def __call__(self, split="train", cache_dir=None, **kwargs):
        """The ``tf.data`` pipeline of ``split`` (``"train"`` or ``"val"``), prepared first if needed."""
        from mrinets.data.pipeline import build_dataset

        if split not in SPLITS:
            raise ValueError(f"Invalid value for argument `split`. Expected one of {SPLITS}. Received: split={split!r}")
        options = {name: kwargs.pop(name) for name in self.options if name in kwargs}
        root = self.prepare(cache_dir=cache_dir, **options)
        if self.layout == "noncartesian":
            from mrinets.data.noncartesian import build_noncartesian_dataset
            from mrinets.data.pipeline import list_files

            return build_noncartesian_dataset(list_files(os.path.join(root, split)), **kwargs)
        return build_dataset(os.path.join(root, split), **kwargs)

    def __repr__(self):
        return f"PreparedDataset({self.__qualname__})"
