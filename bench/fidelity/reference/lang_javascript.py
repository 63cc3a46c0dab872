"""Fidelity reference, JavaScript/TypeScript: one run of a side with Jest, read from Jest's own
JSON report.

Command (image swemill/base-javascript: Debian's nodejs and jest 29.3.1, babel-jest and
node-babel7 with preset-env / preset-typescript, NODE_PATH pointing at Debian's global
modules), from /testbed, with nothing installed (npm's registry is not reachable):

    jest --ci --json --outputFile=/out/jest.json --runTestsByPath FILES...

FILES are the case's `run` (test files both sides run, as repository paths; --runTestsByPath
takes them as paths, not as patterns).  The project's own Jest configuration (package.json
"jest", jest.config.*) and Babel configuration apply unchanged.  /out is a mounted directory.

Reading the report (testResults[].assertionResults[]):
  id      = the assertion's fullName (the titles of the enclosing describe blocks and the test's
            own, joined by single spaces), stripped; when fullName is empty, ancestorTitles +
            title joined by spaces;
  status  = passed -> pass; failed -> fail; pending / skipped / todo / disabled -> other;
            anything else -> fail;
  the same id in two files (or twice in one) -> one id with the worst status
            (fail > other > pass);
  a test file that failed to run (status "failed" with no assertion results: a syntax error,
            a module that cannot be found, a throwing top-level statement) contributes no ids:
            its tests are missing; it is listed in the notes.
  A run whose report file is absent, empty or does not decode (cut), or says the run was
  interrupted, is an error (the case is broken).  A file that cannot find a third-party
  module (a non-relative specifier that is not part of the tree) is recorded in
  missing_third_party, which makes the case broken (the environment lacks it), as for Python.
"""
import json, os, re

IMAGE = "swemill/base-javascript"

UID = 1000
RANK = {"pass": 0, "other": 1, "fail": 2}
STATUS = {"passed": "pass", "failed": "fail", "pending": "other", "skipped": "other",
          "todo": "other", "disabled": "other"}
# Jest's resolver error ("Cannot find module 'X' from 'FILE'"); the code frame Jest prints
# under it shows the template of that message (`'${moduleName}'`), which is not a module
NOT_FOUND = re.compile(r"Cannot find module '([^'$]+)' from '")


def _first_line(msg):
    msg = re.sub(r"\x1b\[[0-9;]*m", "", msg or "")
    for line in msg.splitlines():
        line = line.strip()
        if line and not line.startswith("\u25cf"):
            return line[:200]
    return ""


def _third_party(spec, tree):
    """A module specifier that names a package rather than a file of the tree."""
    if spec.startswith((".", "/", "node:")):
        return False
    top = spec.split("/")[0] if not spec.startswith("@") else "/".join(spec.split("/")[:2])
    # a path-like specifier resolved through the project's roots/moduleDirectories (src/x)
    return not os.path.exists(os.path.join(tree, top)) and not os.path.exists(os.path.join(tree, "src", top))


def parse(report, tree):
    """Jest's JSON report (dict) -> (statuses, notes, missing third-party modules)."""
    statuses, notes, missing = {}, [], set()
    listed = 0
    for f in report.get("testResults") or []:
        name = f.get("name") or ""
        rel = name[len("/testbed/"):] if name.startswith("/testbed/") else os.path.basename(name)
        ars = f.get("assertionResults") or []
        for a in ars:
            tid = (a.get("fullName") or "").strip()
            if not tid:
                tid = " ".join(list(a.get("ancestorTitles") or []) + [a.get("title") or ""]).strip()
            st = STATUS.get(a.get("status"), "fail")
            listed += 1
            if tid not in statuses or RANK[st] > RANK[statuses[tid]]:
                statuses[tid] = st
        if f.get("status") == "failed" and not ars:
            msg = f.get("message") or (f.get("testExecError") or {}).get("message") or ""
            notes.append("test file failed to run: %s: %s" % (rel, _first_line(msg) or "(no message)"))
            for m in NOT_FOUND.findall(re.sub(r"\x1b\[[0-9;]*m", "", msg)):
                if _third_party(m, tree):
                    missing.add(m)
    total = report.get("numTotalTests")
    if isinstance(total, int) and total != listed:
        notes.append("report counts %d tests, lists %d" % (total, listed))
    return statuses, notes, sorted(missing)


def run(case, tree, rdir, name, image, timeout, tools):
    wt = os.path.join(rdir, "testbed")
    tools.sh(["cp", "-a", tree, wt])
    outd = os.path.join(rdir, "out")
    os.makedirs(outd)
    os.chown(outd, UID, UID)
    cmd = tools.docker_base(name) + ["-v", wt + ":/testbed", "-v", outd + ":/out", image,
                                     "jest", "--ci", "--json", "--outputFile=/out/jest.json",
                                     "--runTestsByPath"] + list(case["run"])
    so, se = os.path.join(rdir, "stdout"), os.path.join(rdir, "stderr")
    rc, to, dt = tools.run_container(cmd, name, so, se, timeout)
    size = os.path.getsize(so) + os.path.getsize(se)
    info = {"exit_code": rc, "timed_out": to, "seconds": round(dt, 1), "output_bytes": size,
            "stderr_tail": open(se, errors="replace").read()[-600:]}
    rep = os.path.join(outd, "jest.json")
    if not os.path.exists(rep) or os.path.getsize(rep) == 0:
        info["error"] = "no Jest report"
        return {}, info
    info["report_bytes"] = os.path.getsize(rep)
    try:
        report = json.load(open(rep, encoding="utf-8", errors="replace"))
    except ValueError as e:
        info["error"] = "Jest report does not decode (cut?): %s" % e
        return {}, info
    if not isinstance(report, dict) or "testResults" not in report:
        info["error"] = "not a Jest report"
        return {}, info
    if report.get("wasInterrupted"):
        info["error"] = "Jest report says the run was interrupted"
    statuses, notes, missing = parse(report, tree)
    info["notes"] = notes
    info["missing_third_party"] = missing
    info["jest_success"] = report.get("success")
    info["suites"] = {k: report.get(k) for k in ("numTotalTestSuites", "numFailedTestSuites",
                                                 "numRuntimeErrorTestSuites", "numTotalTests")}
    return statuses, info
