#!/usr/bin/env python3
"""Read a `go test -json` stream and give each test its outcome (fidelity reference).

usage: gojson.py FILE   -> prints {"tests": {name: status}, "packages": {...}, "notes": [...]}

Rules:
- A test is identified by its name as `go test` prints it (the event's "Test" field, e.g.
  TestX/sub_case), without the package.
- Terminal events: pass -> pass, fail -> fail, skip -> skip.  A test that has a "run" event but
  no terminal event (the binary crashed or timed out around it) -> fail.
- The same name in several packages is one id; its status is the worst one
  (fail worse than skip worse than pass).
- Package-level events (no "Test" field) only say whether the package finished; a package that
  failed to build reports no tests at all, so its tests are simply missing ("build-fail" events
  and "panic: " output lines are only reported as notes).
- Lines that are not JSON objects (e.g. build errors printed on stdout by old toolchains) are
  counted and ignored.
"""
import json
import sys

RANK = {"pass": 0, "skip": 1, "fail": 2}


def parse(data):
    per_pkg = {}          # (pkg, test) -> status
    started = set()
    packages = {}         # pkg -> terminal action
    nonjson = 0
    build_failed = set()
    panics = []
    for line in data.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            nonjson += 1
            continue
        if not isinstance(ev, dict):
            nonjson += 1
            continue
        act = ev.get("Action")
        pkg = ev.get("Package", "")
        test = ev.get("Test")
        if act == "build-fail":
            build_failed.add(ev.get("ImportPath", "").split(" ")[0])
        if act == "output" and ev.get("Output", "").startswith(("panic: ", "fatal error: ")) and len(panics) < 3:
            panics.append("%s: %s" % (test or pkg, ev["Output"].strip()[:120]))
        if test is None:
            if act in ("pass", "fail", "skip"):
                packages[pkg] = act
            continue
        if act == "run":
            started.add((pkg, test))
        elif act in ("pass", "fail", "skip"):
            per_pkg[(pkg, test)] = act
    unfinished = sorted(k for k in started if k not in per_pkg)
    for key in unfinished:
        per_pkg[key] = "fail"
    tests = {}
    for (pkg, test), st in per_pkg.items():
        old = tests.get(test)
        if old is None or RANK[st] > RANK[old]:
            tests[test] = st
    notes = []
    if build_failed:
        notes.append("does not build: " + ", ".join(sorted(build_failed)))
    if panics:
        notes.append("test binary crashed: " + panics[0])
    if nonjson:
        notes.append("%d non-JSON lines" % nonjson)
    if unfinished:
        notes.append("%d tests started without a terminal event (counted as fail): %s"
                     % (len(unfinished), ", ".join(t for _, t in unfinished[:5])))
    return {"tests": tests, "packages": packages, "notes": notes}


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        print(json.dumps(parse(f.read().decode("utf-8", "replace")), indent=1, sort_keys=True))
