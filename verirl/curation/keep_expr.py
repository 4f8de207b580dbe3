"""``--keep`` / ``keep=``: a small declarative row filter, never Python's ``eval``.

The expression is parsed with :mod:`ast` and checked against a whitelist, then
interpreted node by node by this module. Nothing of it is ever compiled or run
by Python, so attribute access, calls, subscripts, lambdas, comprehensions and
arithmetic (``9**9**9``) cannot happen: they are refused when parsed.

The language::

    expr    := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | cmp
    cmp     := operand (op operand)+          # chained, as in Python: 0 < x <= 1
    op      := == != < <= > >= in "not in" is "is not"
    operand := column | literal | [literal, ...] | (literal, ...)
    literal := "str" | 12 | -3.5 | True | False | None

A bare column or literal is true when Python would find it true. ``is`` and
``is not`` take only ``None``. A comparison between values that cannot be
ordered (``None < 3``, ``"a" < 1``) is false, like SQL's NULL, never an error.
A column the row lacks is ``None``.

Examples: ``verified and not contaminated``,
``difficulty_bucket in ["medium", "hard"] and pass_rate < 0.8``,
``source != "synthetic" and near_duplicate_of is None``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 2000
MAX_NODES = 400
MAX_DEPTH = 32
MAX_INT_DIGITS = 30
MAX_STR = 1000
MAX_LIST = 1000


class KeepError(ValueError):
    """The expression is not in the filter language; the message says which part."""


_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


@dataclass(frozen=True)
class KeepExpr:
    """A checked expression; ``__call__(row)`` says whether the row is kept."""

    source: str
    tree: ast.Expression
    columns: frozenset[str]

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return bool(_eval(self.tree.body, row))


def parse_keep(source: str) -> KeepExpr:
    """Parse and check ``source``; raise :class:`KeepError` naming what is not allowed."""
    if not isinstance(source, str):
        raise KeepError("the expression must be a string")
    if len(source) > MAX_CHARS:
        raise KeepError(f"the expression is longer than {MAX_CHARS} characters")
    if not source.strip():
        raise KeepError("the expression is empty")
    # A deeply nested expression can exhaust the parser's own stack: bound nesting first.
    depth = best = 0
    for ch in source:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    if best > MAX_DEPTH:
        raise KeepError(f"the expression nests deeper than {MAX_DEPTH} brackets")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise KeepError(f"not a valid expression: {getattr(exc, 'msg', None) or exc}") from None
    columns: set[str] = set()
    count = 0

    def check(node: ast.AST, depth: int, where: str) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise KeepError(f"the expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise KeepError(f"the expression nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                check(v, depth + 1, "expr")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            check(node.operand, depth + 1, "expr")
        elif isinstance(node, ast.Compare):
            check(node.left, depth + 1, "operand")
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Is | ast.IsNot):
                    if not (isinstance(right, ast.Constant) and right.value is None):
                        raise KeepError("'is' and 'is not' compare only with None")
                elif not isinstance(op, ast.In | ast.NotIn) and type(op) not in _CMP:
                    raise KeepError(f"operator {type(op).__name__} is not allowed")
                check(right, depth + 1, "operand")
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise KeepError(f"column name {node.id!r}: names starting with '_' are not allowed")
            if node.id in ("True", "False", "None"):  # pragma: no cover - parsed as constants
                return
            columns.add(node.id)
        elif isinstance(node, ast.Constant):
            _check_literal(node.value)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            if not (isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
                raise KeepError("a sign applies only to a number literal")
            _check_literal(node.operand.value)
        elif isinstance(node, ast.List | ast.Tuple) and where == "operand":
            if len(node.elts) > MAX_LIST:
                raise KeepError(f"a list literal has more than {MAX_LIST} items")
            for e in node.elts:
                if isinstance(e, ast.List | ast.Tuple | ast.Name):
                    raise KeepError("a list literal holds only literals")
                check(e, depth + 1, "literal")
        else:
            raise KeepError(f"{_describe(node)} is not allowed in a keep expression "
                            "(allowed: columns, literals, comparisons, in, is None, and/or/not)")

    check(tree.body, 0, "expr")
    return KeepExpr(source=source, tree=tree, columns=frozenset(columns))


def _check_literal(value: Any) -> None:
    if value is None or isinstance(value, bool | float):
        return
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_INT_DIGITS:
            raise KeepError(f"an integer literal has more than {MAX_INT_DIGITS} digits")
        return
    if isinstance(value, str):
        if len(value) > MAX_STR:
            raise KeepError(f"a string literal is longer than {MAX_STR} characters")
        return
    raise KeepError(f"literal of type {type(value).__name__} is not allowed")


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Call: "a call",
        ast.Subscript: "a subscript",
        ast.Lambda: "lambda",
        ast.BinOp: "arithmetic",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.NamedExpr: "assignment",
        ast.IfExp: "a conditional expression",
        ast.JoinedStr: "an f-string",
        ast.Starred: "unpacking",
    }
    return names.get(type(node), type(node).__name__)


def _eval(node: ast.AST, row: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, row)) for v in node.values)
        return any(_truth(_eval(v, row)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return not _truth(_eval(node.operand, row))
        v = node.operand.value  # type: ignore[attr-defined]
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, row)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, row)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return row.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, row) for e in node.elts]
    raise KeepError(f"{_describe(node)} is not allowed")  # unreachable after parse_keep


def _truth(v: Any) -> bool:
    try:
        return bool(v)
    except Exception:  # noqa: BLE001 - e.g. numpy arrays: an unclear truth value is false
        return False


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, ast.Is):
        return left is None
    if isinstance(op, ast.IsNot):
        return left is not None
    if isinstance(op, ast.In | ast.NotIn):
        try:
            found = left in right if isinstance(right, list | tuple | str | set | frozenset | dict) else False
        except TypeError:
            found = False
        return found if isinstance(op, ast.In) else not found
    try:
        return bool(_CMP[type(op)](left, right))
    except TypeError:
        return False


# --------------------------------------------------------------------------- vectorized

class _NotVectorizable(Exception):
    """The expression meets a case Arrow decides differently (mixed types): rows are checked one by one."""


def keep_mask(expr: KeepExpr, ds: Any) -> list[bool]:
    """Which rows of a ``datasets.Dataset`` the expression keeps.

    The same checked tree is compiled to ``pyarrow.compute`` over whole columns (no per-row
    interpreter): every comparison with a null is false before ``not`` sees it, as row by row.
    Where Arrow would decide otherwise (a comparison of a string column with a number, a list
    column's truth), the rows are checked one by one by :meth:`KeepExpr.__call__`; the answer is the same.
    """
    table = None
    if getattr(ds, "_indices", None) is None:
        with _suppress_arrow():
            table = ds.data.table
    if table is not None:
        try:
            out = _arrow(expr.tree.body, table)
            import pyarrow as pa

            if isinstance(out, pa.Scalar):
                return [bool(out.as_py())] * table.num_rows
            return out.to_numpy(zero_copy_only=False).astype(bool).tolist()
        except _NotVectorizable:
            pass
        except Exception as exc:  # noqa: BLE001 - an Arrow type error: the row interpreter decides
            if type(exc).__module__.split(".")[0] != "pyarrow":
                raise
    return [expr(row) for row in ds]


def _suppress_arrow() -> Any:
    import contextlib

    return contextlib.suppress(AttributeError)


def _arrow(node: ast.AST, table: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(node, ast.BoolOp):
        parts = [_truth_arrow(_arrow(v, table)) for v in node.values]
        fn = pc.and_ if isinstance(node.op, ast.And) else pc.or_
        out = parts[0]
        for p in parts[1:]:
            out = fn(out, p)
        return out
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return pc.invert(_truth_arrow(_arrow(node.operand, table)))
        v = node.operand.value  # type: ignore[attr-defined]
        return pa.scalar(-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.Compare):
        left = _arrow(node.left, table)
        out = None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot):
                r = pc.is_null(left) if isinstance(op, ast.Is) else pc.is_valid(left)
                right = None
            elif isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right_node, ast.List | ast.Tuple) or isinstance(left, pa.Scalar):
                    raise _NotVectorizable
                values = [_literal(e) for e in right_node.elts]
                if any(isinstance(v, bool) for v in values) != pa.types.is_boolean(left.type) and values:
                    raise _NotVectorizable  # Python: True == 1; Arrow: no
                r = pc.fill_null(pc.is_in(left, value_set=pa.array(values)), False) if values else \
                    pa.array([False] * len(left))
                if isinstance(op, ast.NotIn):
                    r = pc.invert(r)
                right = None
            else:
                right = _arrow(right_node, table)
                _same_kind(left, right)
                name = {ast.Eq: "equal", ast.NotEq: "not_equal", ast.Lt: "less", ast.LtE: "less_equal",
                        ast.Gt: "greater", ast.GtE: "greater_equal"}[type(op)]
                r = pc.fill_null(getattr(pc, name)(left, right), False)
            out = r if out is None else pc.and_(out, r)
            if right is None and op is not node.ops[-1]:
                raise _NotVectorizable  # a chain through `in`/`is`: rare, row by row
            left = right
        return out
    if isinstance(node, ast.Name):
        if node.id not in table.column_names:
            return pa.scalar(None)
        return table.column(node.id)
    if isinstance(node, ast.Constant):
        return pa.scalar(node.value)
    raise _NotVectorizable


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        v = node.operand.value
        return -v if isinstance(node.op, ast.USub) else v
    raise _NotVectorizable


def _kind(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_null(t):
        return "null"
    return "other"


def _same_kind(left: Any, right: Any) -> None:
    kinds = {_kind(left.type), _kind(right.type)} - {"null"}
    if len(kinds) > 1 or "other" in kinds:
        raise _NotVectorizable


def _truth_arrow(v: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(v, pa.Scalar):
        return pa.scalar(bool(v.as_py()))
    k = _kind(v.type)
    if k == "bool":
        return pc.fill_null(v, False)
    if k == "number":
        return pc.fill_null(pc.not_equal(v, 0), False)
    if k == "string":
        return pc.fill_null(pc.greater(pc.utf8_length(v), 0), False)
    if k == "null":
        return pc.fill_null(pc.is_valid(v), False)
    raise _NotVectorizable
