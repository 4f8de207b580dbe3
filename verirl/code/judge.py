# The judge of a judged run (call and assert formats). Not imported by verirl: its text
# runs as __main__ in its own sandboxed process, under another uid than the program and
# not dumpable, so the program can neither read, trace nor signal it. Its stdin holds the
# test (expected values, the dataset's test code), which never enters the program's
# address space. It talks to the program over fds 4 (requests out) and 5 (answers in),
# decodes every answer into builtin types only (no object of the program's ever exists
# here), compares, and alone writes the result on fd 3.
import base64
import builtins
import json
import math
import os
import re
import struct
import sys

ANSWER_CAP = 8 * 1024 * 1024
MAX_DEPTH = 10_000
sys.setrecursionlimit(MAX_DEPTH * 2 + 1000)


class ProgramGone(BaseException):
    """The program ended (exit, crash, limit) before answering."""


class Malformed(BaseException):
    """The program's answer is not well-formed plain data."""


def finish(verdict, note="", code=None):
    rep = {"verdict": verdict, "note": str(note)[:2000]}
    if code:
        rep["code"] = code
    os.write(3, json.dumps(rep).encode())
    os._exit(0)


def _exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(5, min(n - len(buf), 1 << 20))
        if not chunk:
            raise ProgramGone("the program ended before answering")
        buf += chunk
    return bytes(buf)


def recv():
    (n,) = struct.unpack("!I", _exact(4))
    if n > ANSWER_CAP:
        raise Malformed(f"an answer of {n} bytes (the cap is {ANSWER_CAP})")
    raw = _exact(n)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Malformed(f"not JSON: {type(exc).__name__}") from None


def send(obj):
    data = json.dumps(obj).encode()
    view = memoryview(struct.pack("!I", len(data)) + data)
    try:
        while view:
            view = view[os.write(4, view):]
    except BrokenPipeError:
        raise ProgramGone("the program ended before reading its call") from None


def dec(v, depth=0):
    """Tagged JSON -> builtin values (and opaque Ref handles). Anything else is Malformed."""
    if depth > MAX_DEPTH:
        raise Malformed("nested too deep")
    t = type(v)
    if v is None or t in (bool, int, float, str):
        return v
    if t is list:
        return [dec(x, depth + 1) for x in v]
    if t is not dict or len(v) not in (1, 2):
        raise Malformed("unknown value")
    try:
        if "$t" in v:
            return tuple(dec(x, depth + 1) for x in _list(v["$t"]))
        if "$d" in v:
            out = {}
            for pair in _list(v["$d"]):
                k, x = _list(pair)
                out[_hashable(dec(k, depth + 1))] = dec(x, depth + 1)
            return out
        if "$s" in v:
            return {_hashable(dec(x, depth + 1)) for x in _list(v["$s"])}
        if "$fs" in v:
            return frozenset(_hashable(dec(x, depth + 1)) for x in _list(v["$fs"]))
        if "$b" in v:
            return base64.b64decode(_str(v["$b"]), validate=True)
        if "$c" in v:
            re_, im = _list(v["$c"])
            return complex(_num(re_), _num(im))
        if "$i" in v:
            s = _str(v["$i"])
            if not re.fullmatch(r"-?0x[0-9a-f]{1,100000}", s):
                raise Malformed("bad integer")
            return int(s, 16)
        if "$f" in v:
            s = _str(v["$f"])
            if s not in ("nan", "inf", "-inf"):
                raise Malformed("bad float")
            return float(s)
        if "$r" in v:
            rid = v["$r"]
            if type(rid) is not int:
                raise Malformed("bad handle")
            return Ref(rid, str(v.get("type", "object"))[:100])
    except (ValueError, TypeError) as exc:
        raise Malformed(str(exc)[:200]) from None
    raise Malformed("unknown tag")


def _list(x):
    if type(x) is not list:
        raise Malformed("expected a list")
    return x


def _str(x):
    if type(x) is not str:
        raise Malformed("expected a string")
    return x


def _num(x):
    if type(x) not in (int, float):
        raise Malformed("expected a number")
    return x


def _hashable(x):
    try:
        hash(x)
    except TypeError:
        raise Malformed("unhashable key") from None
    return x


def enc(v, depth=0):
    """Values the test passes to the program (the program decodes them as it likes)."""
    if depth > MAX_DEPTH:
        raise ValueError("argument nested too deep")
    t = type(v)
    if v is None or t in (bool, str):
        return v
    if t is int:
        return v if -(2**53) < v < 2**53 else {"$i": hex(v)}
    if t is float:
        return v if math.isfinite(v) else {"$f": repr(v)}
    if t is list:
        return [enc(x, depth + 1) for x in v]
    if t is tuple:
        return {"$t": [enc(x, depth + 1) for x in v]}
    if t is dict:
        return {"$d": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
    if t is set:
        return {"$s": [enc(x, depth + 1) for x in v]}
    if t is frozenset:
        return {"$fs": [enc(x, depth + 1) for x in v]}
    if t is bytes:
        return {"$b": base64.b64encode(v).decode()}
    if t is complex:
        return {"$c": [enc(v.real), enc(v.imag)]}
    if t is Ref:
        return {"$r": v._id}
    for base in (int, float, str, tuple, list, dict, set, frozenset):
        if isinstance(v, base) and t is not bool:
            return enc(base(v), depth)
    raise TestCannotCross(f"the test passes a {t.__name__}, which cannot cross to the program")


class TestCannotCross(Exception):
    pass


_RAISED = "_verirl_raised_by_program"
# Builtin exceptions never re-raised as themselves in the judge: they steer its control flow
# (StopIteration silently ends a map()/filter() in the test, so `all(...)` is True) or take
# constructor arguments we do not have. The program raising one is a RuntimeError here.
_NOT_RERAISED = (StopIteration, StopAsyncIteration, UnicodeError, OSError)


CALLS = [0]  # answers the program gave: a test that never asks the program anything checks nothing


def rpc(req):
    CALLS[0] += 1
    send(req)
    ans = recv()
    if type(ans) is not dict:
        raise Malformed("an answer that is not an object")
    if "ok" in ans and len(ans) == 1:
        return dec(ans["ok"])
    if "raise" in ans:
        name, msg = ans.get("raise"), ans.get("msg", "")
        if type(name) is not str or type(msg) is not str:
            raise Malformed("a malformed exception")
        cls = getattr(builtins, name, None)
        exc = None
        if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, _NOT_RERAISED):
            try:
                exc = cls(msg)
            except Exception:  # noqa: BLE001
                exc = None
        if exc is None:
            exc = RuntimeError(f"{name}: {msg}")
        setattr(exc, _RAISED, True)
        raise exc
    raise Malformed("an answer that is neither a value nor an exception")


class Ref:
    """An object that stayed in the program: equal only to itself, hashed and compared here.

    It may be called, its (non-dunder) attributes read and it may be iterated: iteration
    brings its items across once, by value, as plain data, so `x in ref` is decided here
    over those values. Nothing else is asked of the program's object: no len, truth
    value, `in`, indexing or ordering it could answer as it pleases (an always-True
    `__contains__`); those raise TypeError (`x in ref` iterates, as for an object with only `__iter__`).
    """

    __slots__ = ("_id", "_type")

    def __init__(self, rid, type_name):
        self._id = rid
        self._type = type_name

    def __call__(self, *args, **kwargs):
        return rpc({"op": "callref", "ref": self._id, "args": enc(list(args)), "kwargs": enc(kwargs)})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return rpc({"op": "getattr", "ref": self._id, "name": name})

    def __eq__(self, other):
        return type(other) is Ref and other._id == self._id

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(("verirl-ref", self._id))

    def __iter__(self):
        return iter(_list(rpc({"op": "iter", "ref": self._id})))

    def _refuse(self, *_args):
        raise TypeError(f"a {self._type} object of the program's (not plain data) supports no such operation here")

    __len__ = __bool__ = __getitem__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __index__ = __int__ = __float__ = __complex__ = _refuse

    def __str__(self):
        return f"<{self._type} of the program's>"

    __repr__ = __str__


def proxy(name, solution_class=False):
    def candidate(*args, **kwargs):
        return rpc({"op": "call", "fn": name, "args": enc(list(args)), "kwargs": enc(kwargs), "solution_class": solution_class})

    candidate.__name__ = candidate.__qualname__ = name
    return candidate


def as_json(v, depth=0):
    """What json.dumps/json.loads would make of a value (tuples are lists, keys are strings)."""
    t = type(v)
    if v is None or t in (bool, int, float, str):
        return v
    if t in (list, tuple):
        return [as_json(x, depth + 1) for x in v]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is str:
                key = k
            elif k is None or type(k) in (bool, int, float):
                key = json.dumps(k)
            else:
                raise Malformed(f"a {type(k).__name__} key is not JSON")
            if key in out:  # {1: 'a', '1': 'b'} is not {"1": "b"}
                raise Malformed(f"two keys are both {key!r} as JSON")
            out[key] = as_json(x, depth + 1)
        return out
    raise Malformed(f"a {t.__name__} is not a JSON value")


FLOAT_REL_TOL = 1e-9
FLOAT_ABS_TOL = 1e-9


def json_equal(got, want):
    """Equality of a returned JSON value with the expected one: true is not 1, lists in order.

    An integer expected is matched exactly: 999999999 is not 1000000000, 1e-10 is not 0,
    and a float passes only when it is that very integer (2.0 for 2). A float expected
    is matched within a relative 1e-9 or an absolute 1e-9 (FLOAT_REL_TOL, FLOAT_ABS_TOL).
    NaN and infinities equal nothing but themselves (inf is inf; NaN nothing).
    """
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if type(got) in (int, float) and type(want) in (int, float):
        if type(want) is int or got == want:
            return got == want
        try:
            return math.isclose(got, want, rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_ABS_TOL)
        except OverflowError:  # an integer beyond float range against a float
            return False
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(json_equal(x, y) for x, y in zip(got, want, strict=True))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(json_equal(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def judge_call(spec, names):
    got = as_json(proxy(spec["fn_name"], solution_class=True)(*spec["args"]))
    alts = spec.get("alternatives") or []
    if json_equal(got, spec["expected"]) or any(json_equal(got, a) for a in alts):
        finish("accepted")
    finish("wrong_answer", "the returned value differs from the expected one")


# The only modules the judge ever imports for a test: what the test's (and setup's) own code names
# as a free name, when it is on this fixed list of standard-library modules without import-time
# effects. MBPP tests use `math` or `re` unimported (their harness shares the solution's namespace).
# Nothing the program says is ever imported: no `__main__` submodule, no name of its choosing.
TEST_MODULES = frozenset((
    "array", "bisect", "calendar", "cmath", "collections", "copy", "datetime", "decimal", "enum",
    "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math", "numbers", "operator",
    "random", "re", "statistics", "string", "struct", "sys", "textwrap", "time", "typing", "unicodedata",
))


def _names(trees):
    """(free, bound): names the code reads, and names it binds anywhere (defs, imports, targets, args)."""
    import ast

    used, bound = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    bound.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound.update(node.names)
    return used - bound, bound


def _compile(src, filename):
    import ast

    try:
        tree = ast.parse(src, filename)
        return tree, compile(tree, filename, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        finish("error", f"the {filename[:-3]} code does not compile: {exc}")


def judge_assert(spec, names):
    """Run the dataset's test (after its trusted setup) against proxies of the program's functions.

    What is bound here comes from the test, the setup and TEST_MODULES: a free name of the test's
    is the program's function only if the setup does not define it (HumanEval's `poly`, MBPP's
    `test_setup_code`), and the entry point is always the program's. The program's own message
    (``names``) can only leave a name unbound, never bind anything else.
    """
    import importlib

    setup = spec.get("setup") or ""
    s_tree, s_code = _compile(setup, "setup.py") if setup else (None, None)
    t_tree, code = _compile(spec["test"], "test.py")
    free, bound = _names([t for t in (s_tree, t_tree) if t is not None])
    offered = {n for n in names if type(n) is str} if type(names) is list else set()
    g = {"__name__": "__main__", "__builtins__": builtins}
    for n in sorted(free):
        if hasattr(builtins, n) or n.startswith("__"):
            continue  # never a builtin the test code relies on (abs, len, ...)
        if n in TEST_MODULES:
            g[n] = importlib.import_module(n)
        elif n in offered and n.isidentifier():
            g[n] = proxy(n)
    if s_code is not None:
        exec(s_code, g)  # the dataset's own helpers: no name it defines is the program's
    entry = spec.get("entry_point")
    if isinstance(entry, str) and entry.isidentifier():
        g[entry] = proxy(entry)  # the candidate is always the program's own function
    exec(code, g)
    if re.search(r"^def\s+check\s*\(", spec["test"], re.MULTILINE) and callable(g.get("check")):
        if not (isinstance(entry, str) and entry.isidentifier()):  # a bad label: never a pass nobody checked
            finish("error", "the test defines check(candidate) but tests.entry_point names no function", "invalid_tests")
        g["check"](g[entry])
    if CALLS[0] == 0:  # defined functions it never called, or asserted nothing of the program's
        finish("error", "the test code never calls the program", "invalid_tests")
    finish("accepted")


def main():
    sys.path[:] = [p for p in sys.path if not p.startswith("/work")]  # nothing of the program's is importable here
    spec = json.loads(sys.stdin.buffer.read())
    try:
        hello = recv()
        names = hello.get("names") if type(hello) is dict else None
        if type(names) is not list:
            raise Malformed("no list of names")
        if spec["mode"] == "call":
            judge_call(spec, names)
        else:
            judge_assert(spec, names)
    except ProgramGone as exc:
        finish("runtime_error", str(exc))
    except Malformed as exc:
        finish("wrong_answer", f"the program's answer is not plain data: {exc}")
    except TestCannotCross as exc:
        finish("error", str(exc))
    except SystemExit as exc:  # never a pass: only the test running to its end is
        finish("wrong_answer", f"the test exited before its end (status {exc.code!r})")
    except BaseException as exc:  # noqa: BLE001 - an assertion, or the test tripping over a bad answer
        if getattr(exc, _RAISED, False):
            finish("runtime_error", f"the program raised {type(exc).__name__}: {exc}")
        finish("wrong_answer", f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
