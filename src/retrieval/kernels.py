"""wenda's compiled code (_scoring.c): the first stage's top k; the sentence stage's cut, counts and sum;
its bags (bags.py), made at index time and scored at a question.

Built at install where a C compiler is found (setup.py). Where it is not, `compiled` is None, and
numpy and Python do the same work, to the same results, more slowly.
"""

from __future__ import annotations

from typing import Any

try:
    from . import _scoring as compiled
except ImportError:
    compiled: Any = None

__all__ = ["compiled"]
