"""``ConfigError``: every problem in a config, each with its key path and line."""

import dataclasses
import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def format_path(path):
    """``("model", "filters", 2)`` -> ``"model.filters[2]"``; ``()`` -> ``"<root>"``."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "<root>"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One mistake: where (``path`` tuple, ``line``) and what (``message``)."""

    path: tuple
    message: str
    line: int | None = None

    @property
    def where(self):
        """The path as text, e.g. ``model.blocks[2].filters``."""
        return format_path(self.path)

    def __str__(self):
        suffix = f" (line {self.line})" if self.line is not None else ""
        return f"{self.where}: {self.message}{suffix}"


class ConfigError(ValueError):
    """An invalid config. ``problems`` lists every mistake found, not just the first.

    ``str(error)`` prints one problem per line, prefixed by the file name when known::

        unet.yaml: model.filters[2]: expected a positive integer, got -3 (line 14)
    """

    def __init__(self, problems, source=None):
        if isinstance(problems, (Problem, str)):
            problems = [problems]
        self.problems = [p if isinstance(p, Problem) else Problem((), str(p)) for p in problems]
        self.source = source
        super().__init__(str(self))

    def __str__(self):
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(prefix + str(p) for p in self.problems) or f"{prefix}invalid config"

    def __reduce__(self):
        return (type(self), (self.problems, self.source))


class Problems:
    """Collects problems while walking a config; ``raise_if_any()`` at the end."""

    def __init__(self, source=None):
        self.items = []
        self.source = source

    def add(self, path, message, line=None):
        self.items.append(Problem(tuple(path), message, line))

    def extend(self, error, prefix=()):
        """Absorb a ``ConfigError``'s problems, their paths prefixed by ``prefix``."""
        for p in error.problems:
            self.items.append(Problem(tuple(prefix) + p.path, p.message, p.line))

    def __bool__(self):
        return bool(self.items)

    def __len__(self):
        return len(self.items)

    def raise_if_any(self):
        if self.items:
            raise ConfigError(self.items, self.source)
