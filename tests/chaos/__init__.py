"""The chaos suite: a runnable program (``python -m tests.chaos.run``), not collected by pytest."""
