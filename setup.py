"""The one compiled module, wenda.retrieval._scoring: the first stage's top k, the sentence stage's
cut, counts and sum, and its bags (see src/retrieval/_scoring.c and kernels.py).

Everything else is in pyproject.toml. The module is optional: where no C compiler is found the
install still succeeds and the same scores come from numpy, more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wenda.retrieval._scoring",
            sources=["src/retrieval/_scoring.c"],
            # No fused multiply-add: the scores must be numpy's (and rank-bm25's) to the bit.
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        )
    ]
)
