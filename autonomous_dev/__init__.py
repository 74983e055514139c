"""autonomous-dev: turn labelled GitHub issues into tested pull requests with Claude."""
