"""The errors mrinets raises for a user's mistake, and the did-you-mean hint they carry.

Every one derives from ``MrinetsError``; the ``mrinets`` command prints such an error
on one line and exits with status 2, and lets any other exception (a bug) raise with
its traceback. Most also derive from a builtin (``ValueError``, ``LookupError``) so
``except ValueError`` keeps working. This module imports nothing of mrinets: every
package may import it.
"""

import dataclasses
import difflib
import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class MrinetsError(Exception):
    """Base of every error that is the user's mistake (printed without a traceback)."""


class UsageError(MrinetsError):
    """An error in what the user asked for on the command line (a flag, a run directory)."""


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
    """One mistake in a config: where (``path`` tuple, ``line``) and what (``message``)."""

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


class ConfigError(MrinetsError, ValueError):
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


class RegistryError(MrinetsError, LookupError):
    """Base class of registry errors."""


class UnknownNameError(RegistryError, ValueError):
    """A name that no plugin registered."""


class DuplicateNameError(RegistryError, ValueError):
    """A name registered twice without ``override=True`` (raised in strict mode)."""


class PluginError(RegistryError, RuntimeError):
    """A plugin failed to load or to register (raised in strict mode)."""


class DataError(MrinetsError, ValueError):
    """A data file or folder that cannot be read as fastMRI-layout data."""


class CheckpointError(MrinetsError, ValueError):
    """A checkpoint (or other run file) that cannot be written or read, or does not fit the model."""


class ModelFileError(MrinetsError, ValueError):
    """A ``.keras`` file that cannot be loaded safely (or at all)."""


def suggest(name, candidates, n=3):
    """Close matches of ``name`` among ``candidates`` (case-insensitive), best first."""
    lowered = {str(c).lower(): c for c in candidates}
    matches = difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[m] for m in matches]


def did_you_mean(name, candidates):
    """``" Did you mean: a, b?"`` for the close matches of a string ``name``, or ``""`` when none is close."""
    close = suggest(name, candidates) if isinstance(name, str) else []
    return f" Did you mean: {', '.join(map(str, close))}?" if close else ""


def unknown_name(kind, name, known, limit=20):
    """``"unknown layer 'Conv2d'. Did you mean: Conv2D? Registered: ..."``, listing the first ``limit`` of ``known``."""
    known = [str(k) for k in known]
    listed = ", ".join(known[:limit]) + (", ..." if len(known) > limit else "") if known else "(none)"
    return f"unknown {kind} {name!r}.{did_you_mean(str(name), known)} Registered: {listed}"
