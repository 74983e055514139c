"""The task lifecycle: states, steps, the agent loop, tools, checks and prompts; ports only."""
