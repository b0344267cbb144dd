"""The training config: ``model``, ``data``, ``mask``, ``loss``, ``optimizer``, ``train`` sections.

>>> from mrinets.train.schema import load_config
>>> cfg = load_config("varnet_quickstart", overrides=["train.steps=10"])
>>> cfg["train"]["batch_size"], cfg["mask"]["type"]
(4, 'equispaced_fraction')

Every mistake is a ``ConfigError`` naming its YAML path and line.
"""

import inspect
import os

import keras

from mrinets import config
from mrinets.config import ConfigDict, ConfigError, Field, Problem, Ref
from mrinets.errors import did_you_mean

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
STRATEGIES = ("one_device", "mirrored", "multi_worker")
#: ``data.builtin``: a registered dataset mrinets prepares (``PreparedDataset``); ``data.options`` are its arguments.
DATASET_REF = Ref("dataset", build="config", partial=True)
#: ``optimizer.schedule``: a registered schedule, called with the run's ``learning_rate`` and ``total_steps``.
SCHEDULE_REF = Ref("schedule", build="config", partial=("learning_rate", "total_steps"))

#: Optimizer constructor arguments the ``optimizer`` section handles itself.
_OPTIMIZER_OWN = ("type", "learning_rate", "schedule")


def optimizer_class(name):
    """The Keras optimizer class called ``name`` (case-insensitive, ``adamw`` -> ``AdamW``), or None.

    Looked up without creating an optimizer (no TensorFlow state before a strategy exists).
    """
    classes = {n.lower(): getattr(keras.optimizers, n) for n in _optimizer_names()}
    return classes.get(str(name).lower())


def _optimizer_names():
    return sorted(
        n for n, obj in vars(keras.optimizers).items()
        if inspect.isclass(obj) and issubclass(obj, keras.optimizers.Optimizer) and n not in ("Optimizer", "LossScaleOptimizer")
    )


def _check_optimizer_name(name):
    if optimizer_class(name) is None:
        hint = did_you_mean(name, _optimizer_names())
        return f"unknown Keras optimizer {name!r}.{hint} Available: {', '.join(_optimizer_names())}"
    return None


def _check_probability(value):
    return None if 0 <= value < 1 else f"expected a number in [0, 1), got {value!r}"


SCHEDULE_FIELDS = {
    "type": Field(str, default="constant", doc="learning-rate schedule: constant, cosine, exponential or a plugin's"),
    "warmup_steps": Field(int, min=0, default=0, doc="linear warm-up from 0 over this many steps"),
    "alpha": Field(float, min=0, default=0.0, doc="cosine: final learning rate as a fraction of the initial one"),
    "decay_steps": Field(int, positive=True, nullable=True, default=None,
                         doc="cosine: steps to decay over (default: the run's steps); exponential: decay period"),
    "decay_rate": Field(float, positive=True, default=0.5, doc="exponential: factor per `decay_steps`"),
}

TRAIN_FIELDS = {
    "steps": Field(int, positive=True, nullable=True, default=None, doc="optimizer steps (or give `epochs`)"),
    "epochs": Field(int, positive=True, nullable=True, default=None, doc="passes over the training split"),
    "time_limit": Field(float, positive=True, nullable=True, default=None,
                        doc="minutes (data preparation included): after a warm-up, fit the steps (at most `steps`) "
                            "and the learning-rate schedule into this budget"),
    "batch_size": Field(int, positive=True, default=1, doc="global batch size (split across replicas)"),
    "eval_every": Field(int, min=0, default=500, doc="steps between validations (0: only at the end)"),
    "checkpoint_every": Field(int, min=0, default=100, doc="steps between `latest` checkpoints (0: only at the end)"),
    "log_every": Field(int, positive=True, default=10, doc="steps between console progress lines"),
    "eval_batch_size": Field(int, positive=True, nullable=True, default=None, doc="default: batch_size"),
    "max_eval_slices": Field(int, positive=True, nullable=True, default=None,
                             doc="validate on at most this many slices (whole volumes first)"),
    "generalization": Field(bool, default=False,
                            doc="also score the generalization set (real anatomy, 4x/8x challenge layout) at each "
                                "validation; reported only, never used to pick the best checkpoint"),
    "seed": Field(int, min=0, default=0, doc="seed of weights, data order and masks"),
    "precision": Field(str, choices=PRECISIONS, default="float32",
                       doc="Keras mixed-precision policy; auto: mixed_bfloat16 where the hardware computes bfloat16 "
                           "natively (GPUs of compute capability 8.0+, CPUs with AVX-512 BF16 or AMX), else float32"),
    "distribute": Field(str, choices=STRATEGIES, default="one_device"),
    "jit_compile": Field(bool, default=False, doc="XLA-compile the train step (not under mirrored on CPU)"),
    "gradient_checkpointing": Field(bool, default=False,
                                    doc="recompute each cascade in the backward pass (less memory, more time)"),
}

DATA_FIELDS = {
    "builtin": Field(ref=DATASET_REF, default="mni152",
                     doc="dataset mrinets prepares when `path` is not given: mni152, shepp_logan or a plugin's"),
    "options": Field(dict, default=None, doc="arguments of the built-in dataset's preparation (matrix, num_coils, ...)"),
    "path": Field(str, default=None, doc="folder, glob or file of fastMRI-layout h5 files for training"),
    "val_path": Field(str, default=None, doc="validation files (needed with `path`)"),
    "slab": Field(int, positive=True, default=16, doc="3D data: readout positions per training example"),
    "crop": Field(list, default=None, items=Field(int, positive=True), doc="[h, w] centre crop of the targets"),
    "cache_dir": Field(str, default=None, doc="where built-in data are prepared (default $MRINETS_CACHE)"),
    "virtual_coils": Field(int, positive=True, nullable=True, default=None,
                           doc="compress k-space to this many virtual coils (8 MNI152 coils: 4 keep >= 99% energy)"),
    "coil_compression": Field(str, choices=("svd", "gcc"), default="svd", doc="method of `virtual_coils`"),
    "skip_bad_files": Field(bool, default=False,
                            doc="leave out unreadable files and bad (e.g. NaN) slices with a warning and a count"),
}


EVALUATE_FIELDS = {
    "baselines": Field(list, items=Field(ref=Ref("baseline", build="config", partial=("kspace", "mask"))), default=["zero_filled", "cg_sense"],
                       doc="classical reconstructions scored beside the model: names or {type: name, **options}"),
}


SCHEMA = {
    "schema_version": Field(int, min=1, max=config.SCHEMA_VERSION, default=config.SCHEMA_VERSION),
    "mrinets_version": Field(str, default=None, doc="written into a run's config.yaml; informative"),
    "model": Field(ref=Ref("network", build="config"), required=True),
    "data": Field(fields=DATA_FIELDS),
    "mask": Field(ref=Ref("mask", build="config"),
                  default={"type": "equispaced_fraction", "center_fractions": 0.08, "accelerations": 4}),
    "trajectory": Field(ref=Ref("trajectory", build="config", partial=("base_resolution",)), default=None,
                        doc="non-Cartesian sampling (replaces `mask`): the built-in non-Cartesian data are simulated "
                            "with it; files given by `data.path` carry their own trajectories"),
    "loss": Field(ref=Ref("loss", build="config"), default={"type": "L1"}),
    "optimizer": Field(
        fields={
            "type": Field(str, default="adam", check=_check_optimizer_name, doc="any Keras optimizer by name"),
            "learning_rate": Field(float, positive=True, default=1e-3),
            "schedule": Field(fields=SCHEDULE_FIELDS),
            "clipnorm": Field(float, positive=True, default=None),
        },
        extra=True,
    ),
    "train": Field(fields=TRAIN_FIELDS),
    "evaluate": Field(fields=EVALUATE_FIELDS),
}


def coil_compression_options(cfg):
    """``build_dataset`` keywords of the config's ``data.virtual_coils`` and ``data.coil_compression``."""
    data = cfg["data"]
    return {"virtual_coils": data.get("virtual_coils"), "coil_compression": data.get("coil_compression", "svd")}


def find_config(name_or_path):
    """A config path from a path or a shipped config's name."""
    from mrinets import configs

    return configs.find(name_or_path)


def _inline_model(document, source):
    """Replace a ``model: path/to/network.yaml`` string by that file's network node."""
    model = document.get("model")
    if not isinstance(model, str) or not (model.endswith((".yaml", ".yml")) or os.sep in model or "/" in model):
        return
    base = os.path.dirname(os.path.abspath(source)) if source and os.path.exists(str(source)) else os.getcwd()
    path = model if os.path.isabs(model) else os.path.join(base, model)
    if not os.path.isfile(path):
        raise ConfigError(Problem(("model",), f"network file {model!r} does not exist (looked for {path})",
                                  config.line_of(document, "model")), source)
    network = config.load(path)
    node = network["model"] if "model" in network and "type" not in network else network
    node.pop("schema_version", None)
    document["model"] = node


def _check_optimizer_arguments(cfg, problems):
    section = cfg["optimizer"]
    cls = optimizer_class(section["type"])
    if cls is None:
        return
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    accepted |= {"clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "use_ema", "ema_momentum",
                 "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"}
    for key, value in section.items():
        if key in _OPTIMIZER_OWN or key == "clipnorm":
            continue
        if key not in accepted:
            hint = did_you_mean(key, sorted(accepted))
            problems.append(Problem(("optimizer", key), f"unknown argument {key!r} for optimizer {cls.__name__}.{hint}",
                                    config.line_of(section, key)))


def _node(value, ref, path, problems, source):
    """``value`` validated as a ``{type: ...}`` node of ``ref`` at ``path`` (None after a problem)."""
    try:
        return config.validate_node(value, ref, source=source, path=path)
    except ConfigError as error:
        problems.extend(error.problems)
        return None


def _dataset_node(data, problems, source):
    """The validated ``{type: data.builtin, **data.options}`` node of the dataset to prepare (None with ``path``).

    ``data.builtin`` is left as the dataset's name; arguments given as ``builtin: {type: name, ...}``
    move into ``data.options``, so the resolved config reads as before.
    """
    from mrinets.data.builtin import prepared_dataset
    from mrinets.registry import UnknownNameError

    builtin = data["builtin"]
    data["builtin"] = builtin["type"]
    given = {key: value for key, value in builtin.items() if key != "type"}
    if given:
        options = config.ConfigDict({**given, **(data["options"] or {})})
        options.lines = {**{key: builtin.lines.get(key) for key in given}, **getattr(data["options"], "lines", {})}
        options.line = builtin.line
        data["options"] = options
    if data["path"]:
        return None
    try:
        prepared_dataset(builtin["type"])
    except UnknownNameError as error:
        problems.append(Problem(("data", "builtin"), str(error), config.line_of(data, "builtin")))
        return None
    node = config.ConfigDict(type=builtin["type"], **(data["options"] or {}))
    node.lines = {"type": config.line_of(data, "builtin"), **getattr(data["options"], "lines", {})}
    node.line = getattr(data["options"], "line", None) or config.line_of(data, "builtin")
    return _node(node, DATASET_REF, ("data", "options"), problems, source)


def _is_noncartesian_dataset(obj):
    return getattr(obj, "layout", None) == "noncartesian"


def _check_noncartesian(cfg, problems):
    """A ``trajectory`` goes with a non-Cartesian network and non-Cartesian data, and only with them."""
    from mrinets import registry

    trajectory, data = cfg["trajectory"], cfg["data"]
    model_is_nc = getattr(getattr(cfg["model"], "entry", None) and cfg["model"].entry.obj, "noncartesian", False)
    builtin_is_nc = data.dataset is not None and _is_noncartesian_dataset(data.dataset.entry.obj)
    if trajectory is None:
        if model_is_nc or builtin_is_nc:
            what = f"model {cfg['model']['type']}" if model_is_nc else f"data.builtin {data['builtin']}"
            problems.append(Problem(("trajectory",), f"required by {what} (non-Cartesian), e.g. "
                                    "`trajectory: {type: radial, views: 32, ordering: golden}`", None))
        return
    if not model_is_nc:
        problems.append(Problem(("model", "type"), f"{cfg['model']['type']} reconstructs Cartesian k-space; a "
                                "`trajectory` needs a non-Cartesian network (NonCartesianMoDL, NonCartesianUnrolled, "
                                "NonCartesianVarNet)", config.line_of(cfg["model"], "type")))
    if data.dataset is not None and not builtin_is_nc:
        choices = [n for n in registry.names("dataset") if _is_noncartesian_dataset(registry.get("dataset", n))]
        problems.append(Problem(("data", "builtin"), f"{data['builtin']!r} is Cartesian data; with a `trajectory` use "
                                f"{' or '.join(choices)} or non-Cartesian files (`data.path`)",
                                config.line_of(data, "builtin")))
    matrix = (data["options"] or {}).get("matrix")
    matrix = matrix if isinstance(matrix, int) and not isinstance(matrix, bool) and matrix >= 2 else 64
    try:  # the trajectory's own argument checks
        config.build(trajectory, base_resolution=matrix)
    except ConfigError as error:
        problems.extend(error.problems)


def validate_config(document, source=None):
    """Validate a loaded training document; return the resolved ``ConfigDict``.

    ``cfg["optimizer"]["schedule"]`` is a validated schedule node and ``cfg["data"].dataset`` the
    validated ``{type: data.builtin, **data.options}`` node (None with ``data.path``): both are
    built by ``config.build`` without a second validation.

    Raises:
        ConfigError: every problem, each with its YAML path and line.
    """
    source = source or getattr(document, "source", None)
    _inline_model(document, source)
    cfg = config.validate(document, SCHEMA, source=source)
    problems = []
    train, data = cfg["train"], cfg["data"]
    data.dataset = _dataset_node(data, problems, source)
    cfg["optimizer"]["schedule"] = _node(cfg["optimizer"]["schedule"], SCHEDULE_REF, ("optimizer", "schedule"), problems,
                                         source)
    if train["steps"] is not None and train["epochs"] is not None:
        problems.append(Problem(("train", "epochs"), "give `train.steps` or `train.epochs`, not both",
                                config.line_of(train, "epochs")))
    if data["path"] and not data["val_path"]:
        problems.append(Problem(("data", "val_path"), "required when `data.path` is set (the validation files)",
                                config.line_of(data, "path")))
    if data["val_path"] and not data["path"]:
        problems.append(Problem(("data", "path"), "required when `data.val_path` is set (the training files)",
                                config.line_of(data, "val_path")))
    if data["crop"] is not None and len(data["crop"]) != 2:
        problems.append(Problem(("data", "crop"), f"expected [height, width], got {list(data['crop'])}",
                                config.line_of(data, "crop")))
    if train["distribute"] == "multi_worker" and train["time_limit"]:
        problems.append(Problem(("train", "time_limit"), "not supported with distribute: multi_worker (each worker "
                                "would plan its own steps)", config.line_of(train, "time_limit")))
    if train["distribute"] != "one_device" and train["jit_compile"]:
        problems.append(Problem(("train", "jit_compile"), "jit_compile is not supported with distribute: "
                                f"{train['distribute']}", config.line_of(train, "jit_compile")))
    _check_optimizer_arguments(cfg, problems)
    _check_noncartesian(cfg, problems)
    for key in ("mask", "loss"):  # cheap to build: their own argument checks run now, not mid-training
        try:
            config.build(cfg[key])
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems, source)
    if train["steps"] is None and train["epochs"] is None:
        train["steps"] = 1000
    return cfg


def load_config(name_or_path, overrides=(), seed=None):
    """Load, override (``["train.steps=10"]``) and validate a training config.

    ``name_or_path``: a YAML path, YAML text with newlines, a mapping or a shipped config's name.
    """
    if isinstance(name_or_path, str) and "\n" not in name_or_path:
        name_or_path = find_config(name_or_path)
    document = config.load(name_or_path)
    source = getattr(document, "source", None)
    if overrides:
        document = config.apply_overrides(document, list(overrides))
        document.source = source
    if seed is not None:
        document.setdefault("train", ConfigDict())
        if not isinstance(document["train"], dict):
            raise ConfigError(Problem(("train",), "expected a mapping"), source)
        document["train"]["seed"] = seed
    return validate_config(document, source)


def build_model(cfg):
    """The Keras model of a validated config's ``model`` (not validated again); a build error cites
    its path under ``model`` and the config's file."""
    from mrinets import networks

    return networks.build(cfg["model"])


def to_yaml(cfg):
    """The resolved config as YAML text (plain types, keys in schema order)."""
    import yaml

    plain = config.to_plain(cfg)
    ordered = {key: plain[key] for key in SCHEMA if key in plain}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None)
