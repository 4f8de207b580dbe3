# The program side of a judged run (call and assert formats). Not imported by verirl:
# it is compiled by the sandbox client and run in the program's own sandboxed process,
# in the program's globals, after the program's top level. It answers the judge's requests on fds 3
# (requests in) and 4 (answers out), as tagged JSON. Nothing here is trusted: the
# program may rewrite all of it, and the judge decodes every answer into builtin types.


def _verirl_serve(g):
    import base64
    import json
    import math
    import os
    import struct
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    refs = {}

    def enc(v):
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if -(2**53) < v < 2**53 else {"$i": hex(v)}
        if t is float:
            return v if math.isfinite(v) else {"$f": repr(v)}
        if t is list:
            return [enc(x) for x in v]
        if t is tuple:
            return {"$t": [enc(x) for x in v]}
        if t is dict:
            return {"$d": [[enc(k), enc(x)] for k, x in v.items()]}
        if t is set:
            return {"$s": [enc(x) for x in v]}
        if t is frozenset:
            return {"$fs": [enc(x) for x in v]}
        if t is bytes:
            return {"$b": base64.b64encode(v).decode()}
        if t is complex:
            return {"$c": [enc(v.real), enc(v.imag)]}
        # subclasses of a builtin (IntEnum, namedtuple, OrderedDict, Counter, defaultdict) cross by the
        # value they hold, read with the base type's own methods, never the subclass's overrides
        if isinstance(v, int) and not isinstance(v, bool):
            return enc(int.__index__(v))
        if isinstance(v, float):
            return enc(float.__float__(v))
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, tuple):
            return enc(tuple(tuple.__iter__(v)))
        if isinstance(v, list):
            return enc(list.copy(v))
        if isinstance(v, dict):
            return enc(dict(dict.items(v)))
        if isinstance(v, set):
            return enc(set(set.__iter__(v)))
        if isinstance(v, frozenset):
            return enc(frozenset(frozenset.__iter__(v)))
        if isinstance(v, bytes):
            return enc(bytes(memoryview(v)))
        refs[len(refs) + 1] = v  # anything else stays here; the judge gets an opaque handle
        return {"$r": len(refs), "type": t.__name__}

    def dec(v):
        if isinstance(v, list):
            return [dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        (tag, x), *_ = v.items()
        if tag == "$t":
            return tuple(dec(y) for y in x)
        if tag == "$d":
            return {dec(k): dec(y) for k, y in x}
        if tag == "$s":
            return {dec(y) for y in x}
        if tag == "$fs":
            return frozenset(dec(y) for y in x)
        if tag == "$b":
            return base64.b64decode(x)
        if tag == "$c":
            return complex(x[0], x[1])
        if tag == "$i":
            return int(x, 16)
        if tag == "$f":
            return float(x)
        if tag == "$r":
            return refs[x]
        raise ValueError(f"bad tag {tag}")

    def send(obj):
        try:
            data = json.dumps(obj).encode()
        except (TypeError, ValueError, RecursionError, MemoryError) as exc:
            data = json.dumps({"raise": type(exc).__name__, "msg": "the answer cannot be sent: " + str(exc)[:200]}).encode()
        view = memoryview(struct.pack("!I", len(data)) + data)
        while view:
            view = view[os.write(4, view):]

    def recv():
        def exact(n):
            buf = b""
            while len(buf) < n:
                chunk = os.read(3, n - len(buf))
                if not chunk:
                    os._exit(0)  # the judge is done
                buf += chunk
            return buf

        (n,) = struct.unpack("!I", exact(4))
        return json.loads(exact(n))

    # functions and classes the program has (its own, or imported: `from math import sqrt` for a test's sqrt)
    names = sorted(n for n, v in list(g.items()) if not n.startswith("_") and callable(v) and type(v) is not type(sys))
    send({"names": names})  # which of the test's free names are ours: the judge binds nothing else of ours
    while True:
        req = recv()
        try:
            op = req["op"]
            if op == "call":
                fn = g.get(req["fn"])
                if fn is None and req.get("solution_class") and "Solution" in g:
                    fn = getattr(g["Solution"](), req["fn"])
                if fn is None:
                    raise NameError(f"name {req['fn']!r} is not defined")
                v = fn(*dec(req["args"]), **dec(req.get("kwargs") or {"$d": []}))
            else:
                obj = refs[req["ref"]]
                if op == "callref":
                    v = obj(*dec(req["args"]), **dec(req.get("kwargs") or {"$d": []}))
                elif op == "getattr":
                    v = getattr(obj, req["name"])
                elif op == "iter":
                    v = list(obj)
                else:
                    raise ValueError(f"unknown op {op}")
            out = {"ok": enc(v)}
        except Exception as exc:  # noqa: BLE001 - the program's exception is its answer
            out = {"raise": type(exc).__name__, "msg": str(exc)[:1000]}
        send(out)


_verirl_serve(globals())
