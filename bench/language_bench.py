"""Per-language throughput: one compile and ten stdio tests per submission, plain vs sandboxed.

Baseline, same run: what a script without a sandbox does, the compiler and then
``subprocess.run`` of the program per test in a temp directory, with the
same compiler flags. verirl: ``Sandbox.submission`` (the compile under its own
limits, each test a fresh isolated run). 2 submissions at once (one per core).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine, table

CONC = os.cpu_count() or 2
SUBMISSIONS = 4  # per language and side

# Read n, then n numbers; print the sum of the smaller half (the same problem in every language).
PROGRAMS = {
    "cpp": "#include <bits/stdc++.h>\nusing namespace std;\nint main(){int n;cin>>n;vector<long long>v(n);for(auto&x:v)cin>>x;"
    "sort(v.begin(),v.end());long long s=0;for(int i=0;i<n/2;i++)s+=v[i];cout<<s<<endl;}\n",
    "c": "#include <stdio.h>\n#include <stdlib.h>\nstatic int cmp(const void*a,const void*b){long long x=*(long long*)a,y=*(long long*)b;return (x>y)-(x<y);}\n"
    "int main(void){int n;scanf(\"%d\",&n);long long*v=malloc(n*sizeof*v);for(int i=0;i<n;i++)scanf(\"%lld\",v+i);"
    "qsort(v,n,sizeof*v,cmp);long long s=0;for(int i=0;i<n/2;i++)s+=v[i];printf(\"%lld\\n\",s);return 0;}\n",
    "go": 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"sort"\n)\n\nfunc main() {\n\tr := bufio.NewReader(os.Stdin)\n\tvar n int\n'
    "\tfmt.Fscan(r, &n)\n\tv := make([]int64, n)\n\tfor i := range v {\n\t\tfmt.Fscan(r, &v[i])\n\t}\n"
    "\tsort.Slice(v, func(i, j int) bool { return v[i] < v[j] })\n\tvar s int64\n\tfor i := 0; i < n/2; i++ {\n\t\ts += v[i]\n\t}\n\tfmt.Println(s)\n}\n",
    "rust": "use std::io::Read;\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n"
    "    let mut it = s.split_ascii_whitespace().map(|x| x.parse::<i64>().unwrap());\n    let n = it.next().unwrap() as usize;\n"
    "    let mut v: Vec<i64> = it.take(n).collect();\n    v.sort();\n    println!(\"{}\", v[..n / 2].iter().sum::<i64>());\n}\n",
    "bash": "read n\nread -a v\nsorted=($(printf '%s\\n' \"${v[@]}\" | sort -n))\ns=0\nfor ((i = 0; i < n / 2; i++)); do s=$((s + sorted[i])); done\necho $s\n",
}


def cases() -> list[tuple[bytes, str]]:
    out = []
    for k in range(10):
        xs = [(i * 7919 + k) % 1000 for i in range(200)]
        out.append((f"200\n{' '.join(map(str, xs))}\n".encode(), str(sum(sorted(xs)[:100]))))
    return out


def plain(name: str, src: str, tests) -> tuple[float, float]:
    """(submissions/s, median compile s) with no isolation: the policy row's own argv, run in a temp dir."""
    from sandbox.policy import LANGUAGES

    lang = LANGUAGES[name]
    compile_s: list[float] = []

    def one(_):
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / lang.source_file).write_text(src)
            fix = lambda argv: [a.replace("/work", d) for a in argv]  # noqa: E731
            if lang.compile:
                env = {"PATH": "/usr/bin:/bin", "HOME": d, "TMPDIR": d}
                t = time.perf_counter()
                subprocess.run(fix(lang.compile), check=True, capture_output=True, env=env, cwd=d)
                compile_s.append(time.perf_counter() - t)
            for inp, want in tests:
                r = subprocess.run(fix(lang.run), input=inp, capture_output=True, timeout=10, cwd=d)
                assert r.stdout.split() == [want.encode()], r

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONC) as ex:
        list(ex.map(one, range(SUBMISSIONS)))
    return SUBMISSIONS / (time.perf_counter() - t0), statistics.median(compile_s) if compile_s else 0.0


def sandboxed(boxes, name: str, src: str, tests) -> tuple[float, float]:
    from sandbox import Limits

    compile_s: list[float] = []

    def one(i):
        with boxes[i % CONC].submission(name, src, Limits(cpu_time_s=2)) as sub:
            if sub.compile_result is not None:
                assert sub.compile_result.ok, sub.compile_result.stderr[-500:]
                compile_s.append(sub.compile_result.wall_s)
            for inp, want in tests:
                r = sub.run(stdin=inp)
                assert r.ok and r.stdout.split() == [want.encode()], r

    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONC) as ex:
        list(ex.map(one, range(SUBMISSIONS)))
    return SUBMISSIONS / (time.perf_counter() - t0), statistics.median(compile_s) if compile_s else 0.0


def main() -> None:
    from sandbox import Sandbox, available_languages

    tests = cases()
    boxes = [Sandbox() for _ in range(CONC)]  # one per verifier process, as in a worker
    rows = []
    try:
        for name, src in PROGRAMS.items():
            if name not in available_languages():
                rows.append([name, "not installed", "", "", "", ""])
                continue
            base, base_c = plain(name, src, tests)
            ours, ours_c = sandboxed(boxes, name, src, tests)
            rows.append([name, f"{base:.2f}", f"{ours:.2f}", f"{ours / base:.2f}x", f"{base_c:.2f} / {ours_c:.2f}" if base_c else "-", "10"])
    finally:
        for b in boxes:
            b.close()
    print(f"machine: {machine()}; {CONC} submissions at once, {SUBMISSIONS} per language and side\n")
    print(table(["language", "plain submissions/s", "verirl submissions/s", "ratio", "median compile s (plain / verirl)", "tests each"], rows))


if __name__ == "__main__":
    main()
