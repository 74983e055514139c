"""The two kinds of detector: fixed-prefix tokens and values recognised by what surrounds them."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import Check


@dataclass(frozen=True)
class Token:
    """A credential that starts with a fixed literal prefix; `tail` is the regex for the rest of it.

    `bounded` tokens must not follow a letter or digit (short prefixes that could sit inside a word).
    A `(?P<secret>...)` group in `tail` limits the replacement to that part. Tokens whose tail is filler
    (`xxxx`, `aaaaaa`, `EXAMPLE`) are never taken, whatever `check` says.
    """

    name: str
    prefixes: tuple[str, ...]
    tail: str
    bounded: bool = False
    check: Check | None = None
    random: bool = True  # its tail is random text, so filler there means a placeholder


@dataclass(frozen=True)
class Contextual:
    """A credential recognised by its surroundings; only its `(?P<secret>...)` group is replaced.

    They are tried only where a `TRIGGERS` keyword occurs followed by what that trigger requires, and
    where the word holding it starts (at most 32 characters before), so every pattern must begin at
    one of those two places and match only where its trigger's condition holds.
    """

    name: str
    pattern: str
    check: Check | None = None
    near: str | None = None  # a regex that must also occur on the same line (or within `window`)
    window: int = 0  # when set, `near` may occur this many characters either side instead
    each: str | None = None  # when set, every match of this regex inside the secret is one secret
