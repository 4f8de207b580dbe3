"""Imported by the verifier pool's fork server: load and exercise the verifiers once.

Children forked afterwards start warm (sympy, math-verify's LaTeX parser and
our own modules already imported), so replacing a killed child is cheap.
"""

import logging

logging.getLogger("math_verify").setLevel(logging.ERROR)

from verirl import scoring  # noqa: E402

try:
    scoring.score_item({"task": "math", "completion": "\\boxed{\\frac{x}{2}+1}", "answer": "1+x/2"})
except Exception:  # warming is best effort; real items report their own errors
    pass
try:  # the IFEval/IFBench checkers and NLTK's offline data (seconds to import)
    scoring.score_item({"task": "instruction", "completion": "Hi. Bye.", "constraints": {
        "instruction_id_list": ["length_constraints:number_sentences"], "kwargs": [{"num_sentences": 2, "relation": "at least"}]}})
except Exception:
    pass
