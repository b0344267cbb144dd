"""Collecting every problem in a config (``Problems``); ``ConfigError`` itself lives in ``mrinets.errors``."""

from mrinets.errors import ConfigError, Problem, format_path

__all__ = ["ConfigError", "Problem", "Problems", "format_path"]


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
