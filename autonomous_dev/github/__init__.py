"""The GitHub adapter (PyGithub), its rate-limit gate and conditional requests."""
