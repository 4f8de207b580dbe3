"""Imported by the verifier pool's fork server: load and exercise the verifiers once.

Children forked afterwards start warm (sympy, math-verify's LaTeX parser and
our own modules already imported), so replacing a killed child is cheap.
"""

import logging

logging.getLogger("math_verify").setLevel(logging.ERROR)

from verirl import scoring  # noqa: E402

# Each item loads code paths a child would otherwise load on its first such item: the
# symbolic layer, and sympy's radicals (about 1 s on a busy 2-core machine, paid once
# here instead of once per verifier process, inside some request).
for _gold, _pred in (("1+x/2", "\\boxed{\\frac{x}{2}+1}"), ("5", "\\boxed{\\sqrt{2} + 2\\sqrt{3}}")):
    try:
        scoring.score_item({"task": "math", "completion": _pred, "answer": _gold})
    except Exception:  # warming is best effort; real items report their own errors
        pass
try:  # the IFEval/IFBench checkers and NLTK's offline data (seconds to import)
    scoring.score_item({"task": "instruction", "completion": "Hi. Bye.", "constraints": {
        "instruction_id_list": ["length_constraints:number_sentences"], "kwargs": [{"num_sentences": 2, "relation": "at least"}]}})
except Exception:
    pass

import gc  # noqa: E402

# Everything loaded so far lives as long as the process: out of the collector's sight, so a
# child's collections walk only what its items allocate (and its pages stay shared).
gc.collect()
gc.freeze()
