"""In-process pytest recorder used by the fidelity reference (runs INSIDE the test container).

Invoked from the repository root as

    python -c 'import sys; sys.path.append("/fidelity"); import fidelity_pytest_recorder as r; sys.exit(r.main())' \
        -p no:cacheprovider FILE...

`python -c` puts the current directory first on sys.path exactly as `python -m pytest` does, and the
recorder directory is appended last so it can shadow nothing.  The arguments after the script are
passed unchanged to pytest.main(args, plugins=[Recorder()]).  The recorder writes one JSON object
to $FIDELITY_OUT: every test report (nodeid made relative to the invocation directory, as the
`-rA` summary prints it; when; outcome; whether it carries wasxfail) and every failed collection
report, plus pytest's exit code.  Nothing here interprets outcomes: compute.py does that.
"""
import json
import os
import sys


class Recorder:
    def __init__(self):
        self.reports = []
        self.collect_errors = []
        self.config = None

    def pytest_configure(self, config):
        self.config = config

    def _nodeid(self, nodeid):
        # Same transformation as Config.cwd_relative_nodeid: node ids are relative to rootdir;
        # make them relative to the invocation directory (the repository root).
        cfg = self.config
        try:
            inv = str(cfg.invocation_params.dir)
            root = str(cfg.rootpath)
        except Exception:
            return nodeid
        if inv == root:
            return nodeid
        rel = os.path.relpath(root, inv)
        if rel == ".":
            return nodeid
        return rel.replace(os.sep, "/") + "/" + nodeid

    def pytest_runtest_logreport(self, report):
        self.reports.append({
            "nodeid": self._nodeid(report.nodeid),
            "when": report.when,
            "outcome": report.outcome,
            "wasxfail": hasattr(report, "wasxfail"),
        })

    def pytest_collectreport(self, report):
        if report.outcome != "passed":
            text = str(report.longrepr) if report.longrepr is not None else ""
            self.collect_errors.append({
                "nodeid": self._nodeid(report.nodeid),
                "outcome": report.outcome,
                "longrepr_tail": text[-2000:],
            })


def main():
    import pytest
    rec = Recorder()
    args = sys.argv[1:]
    code = pytest.main(args, plugins=[rec])
    out = {
        "args": args,
        "exit_code": int(code),
        "pytest_version": pytest.__version__,
        "python_version": sys.version.split()[0],
        "rootdir": str(rec.config.rootpath) if rec.config else None,
        "reports": rec.reports,
        "collect_errors": rec.collect_errors,
    }
    with open(os.environ.get("FIDELITY_OUT", "/out/pytest-records.json"), "w") as f:
        json.dump(out, f)
    return int(code)
