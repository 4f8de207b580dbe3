"""Print the image's third-party requirements: the `server` extra of pyproject.toml, resolved
through verirl's own extras (run in the Dockerfile before the code is copied, so a code change
reuses the dependency layer)."""

import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras, seen, out = project["optional-dependencies"], set(), list(project["dependencies"])
todo = ["server"]
while todo:
    extra = todo.pop()
    if extra in seen:
        continue
    seen.add(extra)
    for req in extras[extra]:
        own = re.fullmatch(r"verirl\[([\w,]+)\]", req)
        if own:
            todo += own.group(1).split(",")
        else:
            out.append(req)
print("\n".join(out))
