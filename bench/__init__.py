"""The Ilmo benchmark: the whole pipeline, measured from outside, against the broker's own limit.

Run it as ``uv run python -m bench.run`` (``make bench``); ``docs/performance.md``
says what each figure means. It is a program, not a test: nothing here is
collected by ``make test``, and nothing asserts a time.
"""
