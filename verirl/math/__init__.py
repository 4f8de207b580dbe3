"""Math answers: the grader (policy in docs/MATH_POLICY.md), value normal forms, intervals, cost prechecks."""
