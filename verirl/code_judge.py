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


def finish(verdict, note=""):
    os.write(3, json.dumps({"verdict": verdict, "note": str(note)[:2000]}).encode())
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


def rpc(req):
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
        if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, (UnicodeError, OSError)):
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
    """An object that stayed in the program: equal only to itself; other uses are calls into the program."""

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

    def __len__(self):
        n = rpc({"op": "len", "ref": self._id})
        if type(n) is not int or n < 0:
            raise Malformed("a bad length")
        return n

    def __getitem__(self, key):
        return rpc({"op": "getitem", "ref": self._id, "key": enc(key)})

    def __contains__(self, key):
        return rpc({"op": "contains", "ref": self._id, "key": enc(key)}) is True

    def __str__(self):
        return _str(rpc({"op": "str", "ref": self._id}))

    def __repr__(self):
        return _str(rpc({"op": "repr", "ref": self._id}))

    def __bool__(self):
        return rpc({"op": "bool", "ref": self._id}) is True


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
            out[key] = as_json(x, depth + 1)
        return out
    raise Malformed(f"a {t.__name__} is not a JSON value")


def json_equal(a, b):
    """Equality of two JSON values: true is not 1, floats within 1e-9, lists in order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def judge_call(spec, names):
    got = as_json(proxy(spec["fn_name"], solution_class=True)(*spec["args"]))
    if json_equal(got, spec["expected"]):
        finish("accepted")
    finish("wrong_answer", "the returned value differs from the expected one")


def stdlib_modules(modules):
    """The standard-library names the program imported (MBPP tests use `math` unimported), imported here afresh.

    Only under their own names (`math` is math, `sqrt` is some module's sqrt): the program cannot put a
    different object under a name the test code uses. Never a builtin's name.
    """
    import importlib

    out = {}
    if type(modules) is not dict:
        return out
    for alias, name in list(modules.items())[:500]:
        attr = None
        if type(name) is list and len(name) == 2 and all(type(x) is str for x in name):
            name, attr = name
        if type(alias) is not str or type(name) is not str or not alias.isidentifier() or hasattr(builtins, alias):
            continue
        if alias != (attr.split(".")[-1] if attr else name.split(".")[-1]):
            continue
        if name.split(".")[0] in sys.stdlib_module_names and all(p.isidentifier() for p in name.split(".")):
            try:
                obj = importlib.import_module(name)
                for part in attr.split(".") if attr else ():
                    obj = getattr(obj, part)
                out[alias] = obj
            except Exception:  # noqa: BLE001 - not importable here: the test will say so
                pass
    return out


def judge_assert(spec, names, modules=None):
    try:
        code = compile(spec["test"], "test.py", "exec")
    except (SyntaxError, ValueError) as exc:
        finish("error", f"the test code does not compile: {exc}")
    g = {"__name__": "__main__", "__builtins__": builtins}
    g.update(stdlib_modules(modules))
    for n in names:  # the program's functions; never a builtin the test code relies on (abs, len, ...)
        if type(n) is str and n.isidentifier() and not n.startswith("__") and not hasattr(builtins, n):
            g[n] = proxy(n)
    entry = spec.get("entry_point")
    if isinstance(entry, str) and entry.isidentifier():
        g[entry] = proxy(entry)  # the candidate is always the program's own function
    exec(code, g)
    if entry and re.search(r"^def\s+check\s*\(", spec["test"], re.MULTILINE) and callable(g.get("check")):
        if entry not in g:
            finish("wrong_answer", f"the program does not define {entry}")
        g["check"](g[entry])
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
            judge_assert(spec, names, hello.get("modules"))
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
