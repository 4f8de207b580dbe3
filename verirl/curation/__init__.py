"""Curation: signatures, near-dedup, decontamination, `verirl filter`, its report, `--keep` expressions."""
