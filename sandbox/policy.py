"""Sandbox policy as data: limits (units in the names) and one row per language.

Every untrusted run gets, whatever its limits: a new PID namespace and a new
mount namespace (its own /proc, tmpfs /tmp, /dev/shm and /work), its own user
namespace, inside its slot's network, IPC, UTS and cgroup namespaces (built once
per slot and reused: no network device but a loopback that stays down, or the
run's own network namespace with a working loopback alone when
``Limits.loopback`` asks; no IPC object of an earlier run); a read-only root made
of the runtime's own directories and nothing else (no /root but a rustup
toolchain's own directory when that is the Rust found, no /home, no /etc/shadow,
no /var); an empty environment; a seccomp deny-list; one unprivileged uid per
concurrent slot; and, on exit, every process of the run killed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    cpu_time_s: float = 2.0  # CPU time of the run (the verdict is judged on this)
    wall_time_s: float | None = None  # wall-clock deadline; default max(3 x cpu, cpu + 2)
    memory_mb: int = 512  # cgroup memory limit (and RLIMIT_AS when address_space_limit)
    address_space_limit: bool = True  # also set RLIMIT_AS (off for runtimes that reserve huge VM: node, java)
    address_space_extra_mb: int = 256  # RLIMIT_AS = memory_mb + this (interpreter overhead)
    max_processes: int = 64  # RLIMIT_NPROC for the slot uid, and cgroup pids.max
    file_size_mb: int = 16  # RLIMIT_FSIZE: largest file the program may write
    open_files: int = 256  # RLIMIT_NOFILE
    tmpfs_mb: int = 64  # size of the private /tmp
    stdout_bytes: int = 16 * 1024 * 1024  # more output than this: output_limit
    stderr_bytes: int = 64 * 1024  # stderr is truncated beyond this (not an error)
    loopback: bool = False  # the run's own network namespace gets a working loopback (nothing else); off: lo is down
    idle_s: float | None = None  # stop the tree when it used no CPU for this long (a compiler blocked on a pipe)
    stack_mb: int = 256  # RLIMIT_STACK soft limit; 0: unlimited (the main thread's stack is bounded by the
    # memory limits; glibc then gives every other thread its 2 MB default instead of a stack this size,
    # so a C/C++ program can start threads within the address-space cap)

    def wall(self) -> float:
        return self.wall_time_s if self.wall_time_s is not None else max(3 * self.cpu_time_s, self.cpu_time_s + 2)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Limits:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Language:
    name: str
    source_file: str
    run: tuple[str, ...]  # argv; {python} is replaced by the real interpreter path
    compile: tuple[str, ...] | None = None
    inprocess_python: bool = False  # forked from the pre-warmed zygote instead of exec'd
    run_limits: dict = field(default_factory=dict)  # overrides of Limits for runs
    compile_limits: dict = field(default_factory=dict)  # overrides of Limits for the compile step
    needs: tuple[str, ...] = ()  # executables that must exist for this row to be offered
    aliases: tuple[str, ...] = ()


# The compile step's own limits, whatever the run's: a compiler kept busy by the program
# (a constexpr or template bomb) is the program's fault, so hitting them is compile_error.
# A language row's ``compile_limits`` overrides these.
COMPILE_LIMITS: dict = {
    "cpu_time_s": 10.0,  # CPU of the whole compiler tree (cc1plus, rustc's threads, go's tools)
    "wall_time_s": 60.0,  # compilers do not sleep: only a host short of CPU reaches this before the CPU limit
    "memory_mb": 1024,
    "address_space_limit": False,
    "max_processes": 256,
    "file_size_mb": 64,
    "idle_s": 5.0,  # `#include "/dev/stdout"`: cc1 blocks on a pipe it holds itself, at zero CPU
}


def real_python() -> str:
    """The interpreter itself, not a pyenv shim (a shim costs a second process start)."""
    return str(Path(sys.executable).resolve())


JAVATUPLES = "/usr/share/java/javatuples.jar"  # Debian libjavatuples-java


@dataclass(frozen=True)
class Library:
    """A library a language's programs may use, installed from a Debian package (see the Dockerfile)."""

    name: str
    path: str  # present when installed
    used: str  # a regex over the program: it uses the library
    package: str  # the Debian package that brings it


# Libraries SandboxFusion's datasets expect (MultiPL-E rows as it builds them), per language row.
LIBRARIES: dict[str, tuple[Library, ...]] = {
    "java": (Library("javatuples", JAVATUPLES, r"\borg\.javatuples\b", "libjavatuples-java"),),
    "cpp": (Library("boost", "/usr/include/boost", r"#\s*include\s*[<\"]boost/", "libboost-dev"),),
    "javascript": (Library("lodash", "/usr/share/nodejs/lodash", r"""require\(\s*['"]lodash['"]|from\s+['"]lodash['"]""", "node-lodash"),),
}


def missing_libraries(lang: Language, source: str) -> list[Library]:
    """The libraries ``source`` uses that are not installed here (our gap, not the program's)."""
    return [lib for lib in LIBRARIES.get(lang.name, ()) if re.search(lib.used, source) and not Path(lib.path).exists()]


LANGUAGES: dict[str, Language] = {
    "python": Language(
        name="python",
        source_file="main.py",
        run=("{python}", "-I", "-S", "/work/main.py"),
        inprocess_python=True,
        aliases=("python3", "py", "py3"),
    ),
    "cpp": Language(
        name="cpp",
        source_file="main.cpp",
        compile=("/usr/bin/g++", "-std=c++17", "-O2", "-pipe", "-o", "/work/main", "/work/main.cpp"),
        run=("/work/main",),
        run_limits={"stack_mb": 0},
        needs=("/usr/bin/g++",),
        aliases=("c++", "cpp17", "c++17", "cpp14", "c++14", "cpp11", "c++11", "cc", "cxx"),
    ),
    "c": Language(
        name="c",
        source_file="main.c",
        compile=("/usr/bin/gcc", "-std=gnu11", "-O2", "-pipe", "-o", "/work/main", "/work/main.c", "-lm"),
        run=("/work/main",),
        run_limits={"stack_mb": 0},
        needs=("/usr/bin/gcc",),
        aliases=("c99", "c11", "c17", "gcc"),
    ),
    "javascript": Language(
        name="javascript",
        source_file="main.js",
        # NODE_PATH: the Debian-packaged modules (lodash) that SandboxFusion's datasets require
        run=("/usr/bin/env", "NODE_PATH=/usr/share/nodejs", "/usr/bin/node", "--stack-size=65500", "/work/main.js"),
        run_limits={"address_space_limit": False, "max_processes": 64},
        needs=("/usr/bin/node",),
        aliases=("js", "node", "nodejs"),
    ),
    "java": Language(
        name="java",
        source_file="Main.java",
        # -cp: javatuples (SandboxFusion's MultiPL-E Java rows import org.javatuples); -ea: asserts are checked
        compile=("/usr/bin/javac", "-J-Xmx512m", "-cp", "/work:" + JAVATUPLES, "-d", "/work", "/work/Main.java"),
        run=("/usr/bin/java", "-ea", "-Xmx{heap_mb}m", "-Xss64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", "/work:" + JAVATUPLES, "Main"),
        compile_limits={"memory_mb": 1536},
        run_limits={"address_space_limit": False, "max_processes": 256, "memory_mb": 768},
        needs=("/usr/bin/java", "/usr/bin/javac"),
        aliases=("java17", "java11", "java8"),
    ),
    "go": Language(
        name="go",
        source_file="main.go",
        # GOCACHE/GOPATH in the private /tmp; the standard library is precompiled read-only under GOROOT.
        compile=("/usr/bin/env", "GOCACHE=/tmp/.cache/go-build", "GOPATH=/tmp/go", "GO111MODULE=off", "CGO_ENABLED=0",
                 "/usr/bin/go", "build", "-o", "/work/main", "/work/main.go"),
        # One P: CPU time is what is judged, and a parallel GC on a many-core host only adds to it.
        run=("/usr/bin/env", "GOMAXPROCS=1", "/work/main"),
        run_limits={"max_processes": 128},  # Go threads count against RLIMIT_NPROC
        needs=("/usr/bin/go",),
        aliases=("golang",),
    ),
    "rust": Language(
        name="rust",
        source_file="main.rs",
        compile=("/usr/bin/rustc", "--edition", "2021", "-O", "-o", "/work/main", "/work/main.rs"),
        run=("/work/main",),
        run_limits={"stack_mb": 0},
        needs=("/usr/bin/rustc",),
        aliases=("rs",),
    ),
    "bash": Language(
        name="bash",
        source_file="main.sh",
        run=("/bin/bash", "/work/main.sh"),
        needs=("/bin/bash",),
        aliases=("sh", "shell"),
    ),
}


# Where toolchains are looked for when a row's own path is absent: PATH, then the usual install
# places (rustup's ~/.cargo/bin, the Go tarball's /usr/local/go/bin).
TOOLCHAIN_PLACES = ("~/.cargo/bin", "/usr/local/go/bin", "/usr/local/bin")
#: Directories outside READONLY_PATHS that the toolchains found need (rustup's sysroot, a JDK
#: under /opt), mounted read-only into every run. Filled once, at import.
TOOLCHAIN_DIRS: list[str] = []


def _find_tool(path: str) -> tuple[str, str | None] | None:
    """(executable, its toolchain's directory when outside READONLY_PATHS) for a row's tool path:
    the path itself, else its name on PATH or in TOOLCHAIN_PLACES. A rustup proxy is resolved to its
    toolchain's own binary (the proxy needs ~/.rustup and HOME, which a run has not)."""
    if os.access(path, os.X_OK):
        return path, None
    name = os.path.basename(path)
    found = shutil.which(name) or next(
        (c for d in TOOLCHAIN_PLACES if os.access(c := os.path.join(os.path.expanduser(d), name), os.X_OK)), None
    )
    if found is None:
        return None
    if name in ("rustc", "cargo") and os.path.realpath(found).endswith("/rustup"):
        try:  # the host's own toolchain manager, asked once at start-up: never anything of a caller's
            sysroot = subprocess.run([found, "--print", "sysroot"], capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        found = os.path.join(sysroot, "bin", name)
        if not os.access(found, os.X_OK):
            return None
    real = os.path.realpath(found)
    home = os.path.dirname(os.path.dirname(real))  # .../bin/tool -> the toolchain's directory
    outside = not any(real.startswith(p.rstrip("/") + "/") for p in READONLY_PATHS)
    return found, (home if outside and home not in ("", "/") else None)


def _with_toolchain(lang: Language, dirs: list[str]) -> Language:
    """The row with its tools found where they are installed (unchanged when they are where it says);
    the directories those need are added to ``dirs``."""
    moved = {}
    for tool in lang.needs:
        hit = _find_tool(tool)
        if hit and hit[0] != tool:
            moved[tool] = hit[0]
            if hit[1] and hit[1] not in dirs:
                dirs.append(hit[1])
    if not moved:
        return lang

    def sub(argv: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if argv is None else tuple(moved.get(a, a) for a in argv)

    return replace(lang, compile=sub(lang.compile), run=sub(lang.run), needs=tuple(moved.get(n, n) for n in lang.needs))


def available_languages() -> dict[str, Language]:
    return {k: v for k, v in LANGUAGES.items() if all(shutil.which(n) or Path(n).exists() for n in v.needs)}


def resolve_language(name: str | None) -> Language | None:
    if not name:
        return None
    key = name.strip().lower()
    for lang in LANGUAGES.values():
        if key == lang.name or key in lang.aliases:
            return lang
    return None


def limits_for(lang: Language, base: Limits, compile_step: bool = False) -> Limits:
    if compile_step:  # its own limits (COMPILE_LIMITS, then the row's), not the run's
        return replace(base, **{**COMPILE_LIMITS, **lang.compile_limits})
    over = lang.run_limits
    lim = replace(base, **{k: v for k, v in over.items() if k != "memory_mb"})
    if "memory_mb" in over:
        lim = replace(lim, memory_mb=max(base.memory_mb, over["memory_mb"]))
    return lim


# Read-only paths visible inside the sandbox (those that exist on this machine).
READONLY_PATHS = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/sbin",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/java-17-openjdk",
    "/etc/ssl/certs",
    "/etc/localtime",
)
DEVICES = ("null", "zero", "full", "random", "urandom")


# Java names the file after its public class: a program whose one public top-level class is
# `Solution` (not `Main`) is compiled as Solution.java and run as `java Solution`.
_JAVA_PUBLIC_CLASS = re.compile(r"^public\s+(?:(?:final|abstract|strictfp)\s+)*class\s+([A-Za-z_$][A-Za-z0-9_$]*)", re.MULTILINE)


def for_source(lang: Language, source: str) -> Language:
    """The row as this program needs it (only Java's differs: file and main class named after its public class)."""
    if lang.name != "java":
        return lang
    names = set(_JAVA_PUBLIC_CLASS.findall(source))
    if len(names) != 1 or names == {"Main"}:
        return lang
    (cls,) = names

    def sub(argv: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if argv is None:
            return None
        return tuple(a[: -len("Main.java")] + f"{cls}.java" if a.endswith("/Main.java") else (cls if a == "Main" else a) for a in argv)

    return replace(lang, source_file=f"{cls}.java", compile=sub(lang.compile), run=sub(lang.run))


LANGUAGES.update({k: _with_toolchain(v, TOOLCHAIN_DIRS) for k, v in LANGUAGES.items()})  # after READONLY_PATHS: it reads them
