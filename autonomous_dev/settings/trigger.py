"""The settings of what starts work besides the trigger label: a mention of the tool's handle."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from autonomous_dev.settings.sections import Section, env

# A user's login (letters, digits, inner hyphens; at most 39) or a GitHub App's `slug[bot]`.
LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?")


class TriggerSettings(Section):
    mention: str = Field(
        "",
        description="The handle that, @-mentioned in an issue or PR comment by a user with write access, "
        "asks the tool to work there (like the trigger label, with the comment as the request); empty: "
        "the login of the GitHub token.",
        json_schema_extra=env("TRIGGER_MENTION"),
    )
    mention_enabled: bool = Field(
        True,
        description="Act on mentions of `trigger.mention`: one conditional request per repository and "
        "cycle (an unchanged list costs no rate limit). Turn off when the token is a person's own.",
        json_schema_extra=env("TRIGGER_MENTION_ENABLED"),
    )

    @field_validator("mention")
    @classmethod
    def _login(cls, value: str) -> str:
        handle = value.strip().removeprefix("@")
        if handle and not LOGIN.fullmatch(handle):
            raise ValueError(f"{value!r} is not a GitHub login (letters, digits and hyphens, or an app's "
                             "name[bot])")  # fmt: skip
        return handle
