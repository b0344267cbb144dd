"""``--set key.path=value`` overrides."""

import copy
import re
from collections.abc import Mapping

from mrinets.config._errors import ConfigError, Problem, format_path
from mrinets.config._yaml import ConfigDict, ConfigList, _parse, load, to_plain

_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(-?\d+)\]")


def parse_path(text):
    """``"model.filters[0]"`` -> ``("model", "filters", 0)``.

    Raises:
        ValueError: the path is empty or malformed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"Invalid value for argument `text`. Expected a key path like `train.steps`. Received: text={text!r}")
    text = text.strip()
    parts, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or (pos == 0 and text.startswith(".")) or (match.group(1) and pos > 0 and text[pos] != "."):
            raise ValueError(f"malformed key path {text!r} at character {pos + 1}: {text[pos:]!r}")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if isinstance(parts[0], int):
        raise ValueError(f"malformed key path {text!r}: it must start with a key")
    return tuple(parts)


def _parse_value(text):
    """A YAML scalar or flow collection (``8``, ``[8, 16]``, ``{type: L1}``), loaded safely."""
    if not text.strip():
        return None
    wrapped = _parse("value: " + text, None) if "\n" not in text else None
    if wrapped is None:
        raise ValueError(f"expected a single-line YAML value, got {text!r}")
    return wrapped["value"]


def apply_overrides(config, overrides):
    """A copy of ``config`` with ``["train.steps=10", "model.filters[0]=8"]`` applied.

    Values are read as YAML (``10`` is an int, ``[8, 16]`` a list, ``null`` None).
    Missing mapping keys are created; list indices must exist (``-1`` is the last item).

    Raises:
        ConfigError: every bad override (malformed, bad path, unsafe value), by path.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    result = copy.deepcopy(config) if isinstance(config, ConfigDict) else load(config)
    problems = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            problems.append(Problem((), f"--set {item!r}: expected KEY.PATH=VALUE"))
            continue
        key, text = item.split("=", 1)
        try:
            path = parse_path(key)
        except ValueError as error:
            problems.append(Problem((), f"--set {item!r}: {error}"))
            continue
        try:
            value = _parse_value(text)
        except ConfigError as error:
            message = "; ".join(p.message for p in error.problems)
            problems.append(Problem(path, f"--set {item!r}: bad value: {message}"))
            continue
        except ValueError as error:
            problems.append(Problem(path, f"--set {item!r}: {error}"))
            continue
        message = _set(result, path, value)
        if message:
            problems.append(Problem(path, f"--set {item!r}: {message}"))
    if problems:
        raise ConfigError(problems, getattr(config, "source", None))
    return result


def _set(root, path, value):
    node = root
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = format_path(path[:depth])
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{where} is not a list, cannot index it with [{part}]"
            if not -len(node) <= part < len(node):
                return f"index {part} is out of range for {where} (a list of {len(node)} items)"
            if last:
                node[part] = value
                if isinstance(node, ConfigList):
                    node.lines[part] = None
                return None
            node = node[part]
        else:
            if not isinstance(node, Mapping):
                kind = "a list" if isinstance(node, list) else f"{type(node).__name__} {to_plain(node)!r}"
                return f"{where} is {kind}, not a mapping; cannot set key {part!r}"
            if last:
                node[part] = value
                if isinstance(node, ConfigDict):
                    node.lines[part] = None
                return None
            if (part not in node or node[part] is None) and isinstance(path[depth + 1], int):
                return f"{format_path(path[: depth + 1])} does not exist, cannot index it with [{path[depth + 1]}]"
            if part not in node or node[part] is None:
                child = ConfigDict()
                node[part] = child
                if isinstance(node, ConfigDict):
                    node.lines[part] = None
            node = node[part]
    return None
