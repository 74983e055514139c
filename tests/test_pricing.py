"""Cost estimates: cache writes and reads priced apart, configured prices first, families as fallback."""

from __future__ import annotations

import json
from pathlib import Path

from autonomous_dev.claude.pricing import UNKNOWN_MODEL, family_prices, prices_for
from autonomous_dev.cli.build import model_prices
from autonomous_dev.models import Usage
from autonomous_dev.settings.model import SourcePaths, load_settings


def test_cache_tokens_are_priced_separately() -> None:
    sonnet = prices_for("claude-sonnet-5-5", {})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_creation_input_tokens=1_000_000,
                  cache_read_input_tokens=1_000_000)  # fmt: skip
    assert sonnet.cost(usage) == 3.0 + 15.0 + 3.75 + 0.30


def test_unknown_models_are_priced_high() -> None:
    assert prices_for("some-new-model", {}) == UNKNOWN_MODEL


def test_configured_prices_win(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    table = {"claude-sonnet-5-5": {"input": 1, "output": 2, "cacheWrite": 3, "cacheRead": 4}}
    config.write_text(json.dumps({"pricing": {"models": table}}))
    settings = load_settings(environ={}, paths=SourcePaths(config_file=config)).settings
    assert model_prices(settings, "claude-sonnet-5-5").cost(Usage(output_tokens=1_000_000)) == 2.0
    assert model_prices(settings, "claude-haiku-5-5") == family_prices(1.0, 5.0)
