"""The sections of the settings model about following a PR of ours: review rounds and CI-repair rounds."""

from __future__ import annotations

from pydantic import Field, field_validator

from autonomous_dev.settings.sections import Section, env, split_commas


class ReviewSettings(Section):
    """Review rounds: trusted review input on a PR of ours answered with a new commit and a reply."""

    max_rounds: int = Field(
        3,
        ge=0,
        le=20,
        description="Review rounds per PR; then the issue is labelled needs-human with one comment. 0: "
        "review input on the tool's PRs is not acted on.",
        json_schema_extra=env("REVIEW_MAX_ROUNDS"),
    )
    allow_bots: list[str] = Field(
        [],
        description="Bot logins (env: comma-separated, e.g. `reviewbot[bot]`) whose review input may start "
        "a round, if they have write access; other bots' comments, and the tool's own, never do.",
        json_schema_extra=env("REVIEW_ALLOW_BOTS"),
    )

    @field_validator("allow_bots", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_commas(value)


class CISettings(Section):
    """CI-repair rounds: the failed checks of a PR's head, given to the model to fix."""

    max_repair_rounds: int = Field(
        2,
        ge=0,
        le=10,
        description="CI-repair rounds per PR; then the issue is labelled needs-human with one comment. 0: "
        "failed checks are reported, not repaired.",
        json_schema_extra=env("CI_MAX_REPAIR_ROUNDS"),
    )
