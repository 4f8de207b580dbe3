"""Instruction following: IFEval/IFBench/Tulu 3 constraints checked with the label's own arguments."""
