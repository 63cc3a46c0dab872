# swemill's pytest plugin: records every test report as one JSON object a line in the file
# named by SWEMILL_PYTEST_RESULTS, so that per-test results never depend on the terminal
# output (which may be cut, or forged by what tests print). Loaded through PYTEST_PLUGINS.
#
# Records ("e" is the kind):
#   {"e": "loaded"}                                  the module was imported
#   {"e": "start", "pytest": VERSION}                 the session is configured
#   {"e": "collect_error", "id": NODEID}              a module or class could not be collected
#   {"e": "collected", "n": N}                        N tests were collected (this process)
#   {"e": "report", "id": NODEID, "when": PHASE, "cat": CATEGORY, "outcome": OUTCOME}
#   {"e": "finish", "exitstatus": CODE}               the session ended
# NODEID is relative to the directory pytest runs in, as its short test summary prints it
# (an id that is not valid UTF-8 is written as "idx", the hex of its bytes, instead of "id");
# CATEGORY is what pytest's own pytest_report_teststatus says ("passed", "failed", "error",
# "skipped", "xfailed", "xpassed", or "" for a passing setup or teardown).
#
# Only the process that loaded it first writes: the variables are taken out of the
# environment, so pytest runs started by the tests themselves (in a subprocess, or inline)
# do not load it, and a forked child writes nothing.
import json
import os

_path = os.environ.pop("SWEMILL_PYTEST_RESULTS", "")
_others = [p for p in os.environ.get("PYTEST_PLUGINS", "").split(",") if p.strip() and p.strip() != __name__]
if _others:
    os.environ["PYTEST_PLUGINS"] = ",".join(_others)
else:
    os.environ.pop("PYTEST_PLUGINS", None)
_pid = os.getpid()
_out = None
_config = None


def _write(record):
    global _out
    if not _path or os.getpid() != _pid:
        return
    if _out is None:
        _out = open(_path, "a", encoding="utf-8")
    _out.write(json.dumps(record) + "\n")
    _out.flush()


_write({"e": "loaded"})


def pytest_configure(config):
    global _config
    if _config is None:
        _config = config
        import pytest

        _write({"e": "start", "pytest": getattr(pytest, "__version__", "")})


def _nodeid(nodeid):
    try:
        return _config.cwd_relative_nodeid(nodeid)
    except Exception:
        return nodeid


def _id(record, nodeid):
    nodeid = _nodeid(nodeid)
    try:
        nodeid.encode("utf-8")
        record["id"] = nodeid
    except UnicodeEncodeError:
        try:
            raw = nodeid.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = nodeid.encode("utf-8", "surrogatepass")
        record["idx"] = raw.hex()
    return record


def pytest_collectreport(report):
    if report.failed and _config is not None:
        _write(_id({"e": "collect_error"}, report.nodeid))


def pytest_collection_finish(session):
    if session.config is _config:
        _write({"e": "collected", "n": len(session.items)})


def pytest_runtest_logreport(report):
    if _config is None:
        return
    category = ""
    try:
        status = _config.hook.pytest_report_teststatus(report=report, config=_config)
        if status:
            category = status[0]
    except Exception:
        category = report.outcome
    _write(_id({"e": "report", "when": report.when, "cat": category, "outcome": report.outcome}, report.nodeid))


def pytest_sessionfinish(session, exitstatus):
    if session.config is _config:
        _write({"e": "finish", "exitstatus": int(exitstatus)})
