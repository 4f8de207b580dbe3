"""Code: the grader (tests through the sandbox), the judge and serve harnesses run inside it, dataset label shapes."""
