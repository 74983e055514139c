"""Estimated cost of model usage, from a per-model price table (USD per million tokens)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from autonomous_dev.models import Usage

MILLION = 1_000_000


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; cache writes and reads are priced separately from plain input."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        ) / MILLION


def family_prices(input_price: float, output_price: float) -> Prices:
    """Anthropic's usual ratios: a 5-minute cache write costs 1.25x input, a cache read 0.1x."""
    return Prices(input_price, output_price, input_price * 1.25, input_price * 0.1)


# Fallbacks by model family when the configured table has no entry for the exact model id.
FAMILY_DEFAULTS: dict[str, Prices] = {
    "haiku": family_prices(1.0, 5.0),
    "sonnet": family_prices(3.0, 15.0),
    "opus": family_prices(5.0, 25.0),
}
UNKNOWN_MODEL = family_prices(15.0, 75.0)  # priced high on purpose: an unknown model never looks cheap


def prices_for(model: str, table: Mapping[str, Prices]) -> Prices:
    if model in table:
        return table[model]
    for family, prices in FAMILY_DEFAULTS.items():
        if family in model:
            return prices
    return UNKNOWN_MODEL
