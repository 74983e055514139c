"""The secret formats the redactor knows: fixed-prefix tokens, context-bound values and their checks."""

from __future__ import annotations

from .checks import Check, is_filler, is_placeholder, looks_random, shannon_entropy
from .context import CONTEXTUAL as _CONTEXTUAL
from .context import TRIGGERS as _TRIGGERS
from .keys import KEY_CONTEXTUAL, KEY_TOKENS, KEY_TRIGGERS
from .kinds import Contextual, Token
from .providers import PROVIDER_TOKENS
from .services import TOKENS as _SERVICE_TOKENS

TOKENS: tuple[Token, ...] = _SERVICE_TOKENS + KEY_TOKENS + PROVIDER_TOKENS
CONTEXTUAL: tuple[Contextual, ...] = _CONTEXTUAL + KEY_CONTEXTUAL
TRIGGERS: tuple[tuple[str, str], ...] = _TRIGGERS + KEY_TRIGGERS

__all__ = [
    "CONTEXTUAL",
    "TOKENS",
    "TRIGGERS",
    "Check",
    "Contextual",
    "Token",
    "is_filler",
    "is_placeholder",
    "looks_random",
    "shannon_entropy",
]
