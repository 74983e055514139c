"""Local stand-ins for the services autonomous-dev talks to."""
