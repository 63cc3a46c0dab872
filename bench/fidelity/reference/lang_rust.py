"""Fidelity reference for Rust: one side of a case, one run of `cargo test`.

Command (image swemill/base-rust: Debian's rustc and cargo, no registry cache), from /testbed:

    cargo test --offline --no-fail-fast [--workspace] RUN... 2>&1

with CARGO_NET_OFFLINE=true, CARGO_TARGET_DIR=/tmp/cargo-target (inside the container, so
the tree stays clean and every run compiles from nothing), CARGO_TERM_COLOR=never and
RUST_BACKTRACE=0.  RUN is the case's `run` field: cargo's target options for the test files
(`--test NAME` for tests/NAME.rs, `--lib` for a src/**/tests.rs module, `--tests` for other
files under tests/), the ones a test file of the test patch names; empty means every target,
doc tests included.  `--workspace` is added when the root Cargo.toml has a [workspace] table.
Standard error is merged into standard output, so cargo's "Running ..." lines stay in order
with the test binaries' own output.

Reading libtest's text (its pretty format; JSON needs a nightly toolchain): a test binary's
results are the lines `test NAME ... ok|FAILED|ignored[, reason]` between its
`running N tests` line and its `test result: ...` summary; lines after its `failures:` line
are captured output and are not read.  The id is NAME as printed (`tests::foo`, `test_f32`,
`foo - should panic`, `src/lib.rs - item (line 5)`).  ok -> pass, FAILED -> fail,
ignored -> other; the same NAME in several binaries keeps the worst (fail > other > pass).
A binary that does not compile contributes nothing (its tests are missing).  A binary whose
tests started and never reached their summary (killed by a signal, abort, stack overflow,
process::exit) makes the run untrusted (info["error"]), and so does a summary whose counts
differ from the result lines read, or cargo failing to resolve a dependency offline.
"""
import os
import re

IMAGE = "swemill/base-rust"

TARGET_DIR = "/tmp/cargo-target"

RESULT_RE = re.compile(r"^test (.+) \.\.\. (ok|FAILED|ignored(?:, .*)?)$")
RUNNING_RE = re.compile(r"^running (\d+) tests?$")
SUMMARY_RE = re.compile(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out")
BINARY_RE = re.compile(r"^\s*(Running|Doc-tests)\s+(.*)$")
COMPILE_ERR_RE = re.compile(r"^error: could not compile `([^`]+)`")
OFFLINE_RE = re.compile(r"(no matching package named|failed to get `[^`]+` as a dependency|"
                        r"attempting to make an HTTP request, but --offline|failed to load source for dependency|"
                        r"you are in the offline mode|unsupported lock ?file|lock file version \d+ requires)")

RANK = {"pass": 0, "other": 1, "fail": 2}


def parse(text):
    """libtest text of one `cargo test` run -> (statuses, notes, errors)."""
    statuses, notes, errors = {}, [], []
    binary = None      # cargo's name of the binary it runs now
    section = None     # {"binary", "expect", "results": [(name, status)], "in_failures"}

    def record(name, st):
        old = statuses.get(name)
        if old is None or RANK[st] > RANK[old]:
            statuses[name] = st

    def died(why):
        errors.append("test binary %s: tests started (%d announced, %d reported) and never summarised: %s"
                      % (section["binary"], section["expect"], len(section["results"]), why))
        for n, s in section["results"]:
            record(n, s)

    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if section is not None:
            m = SUMMARY_RE.match(line)
            if m:
                passed, failed, ignored, measured = (int(m.group(i)) for i in (2, 3, 4, 5))
                got = {"pass": 0, "fail": 0, "other": 0}
                for _, s in section["results"]:
                    got[s] += 1
                if (got["pass"], got["fail"], got["other"]) != (passed + measured, failed, ignored):
                    errors.append("test binary %s: summary says %d passed, %d failed, %d ignored; result lines %d, %d, %d"
                                  % (section["binary"], passed + measured, failed, ignored, got["pass"], got["fail"], got["other"]))
                for n, s in section["results"]:
                    record(n, s)
                section = None
                continue
            if BINARY_RE.match(line) or RUNNING_RE.match(line) or line.startswith("error: test failed") \
                    or line.startswith("error: doctest failed"):
                died("cargo went on with: " + line.strip()[:120])
                section = None
                # fall through: the line is cargo's
            else:
                if section["in_failures"]:
                    continue
                if line == "failures:":
                    section["in_failures"] = True
                    continue
                m = RESULT_RE.match(line)
                if m:
                    word = m.group(2)
                    st = "pass" if word == "ok" else "fail" if word == "FAILED" else "other"
                    section["results"].append((m.group(1), st))
                continue
        m = RUNNING_RE.match(line)
        if m:
            section = {"binary": binary or "(unnamed)", "expect": int(m.group(1)), "results": [], "in_failures": False}
            continue
        m = BINARY_RE.match(line)
        if m:
            binary = m.group(2).strip()
            if m.group(1) == "Doc-tests":
                binary = "Doc-tests " + binary
            continue
        m = COMPILE_ERR_RE.match(line)
        if m:
            notes.append("does not compile: %s" % line[len("error: "):].strip()[:160])
            continue
        if OFFLINE_RE.search(line):
            errors.append("dependency not available offline: " + line.strip()[:200])
    if section is not None:
        died("the output ends")
    return statuses, notes, errors


def run(case, tree, rdir, name, image, timeout, tools):
    wt = os.path.join(rdir, "testbed")
    tools.sh(["cp", "-a", tree, wt])
    args = ["cargo", "test", "--offline", "--no-fail-fast"]
    manifest = open(os.path.join(tree, "Cargo.toml"), errors="replace").read()
    if re.search(r"^\s*\[workspace\]", manifest, re.M):
        args.append("--workspace")
    args += case.get("run") or []
    script = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args) + " 2>&1"
    cmd = tools.docker_base(name) + [
        "-v", wt + ":/testbed",
        "-e", "CARGO_NET_OFFLINE=true", "-e", "CARGO_TARGET_DIR=" + TARGET_DIR,
        "-e", "CARGO_TERM_COLOR=never", "-e", "RUST_BACKTRACE=0",
        image, "sh", "-c", script]
    so, se = os.path.join(rdir, "stdout"), os.path.join(rdir, "stderr")
    rc, to, dt = tools.run_container(cmd, name, so, se, timeout)
    size = os.path.getsize(so) + os.path.getsize(se)
    text = open(so, "rb").read().decode("utf-8", "replace")
    statuses, notes, errors = parse(text)
    info = {"exit_code": rc, "timed_out": to, "seconds": round(dt, 1), "output_bytes": size,
            "command": " ".join(args), "notes": notes, "tail": text[-600:]}
    if errors:
        info["error"] = "; ".join(errors)[:1000]
    elif not statuses and not notes:
        info["error"] = "no test result and no compile error in cargo's output (exit %d)" % rc
    return statuses, info
