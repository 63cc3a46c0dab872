"""Fidelity reference for Java (Maven + JUnit 4/5 through Surefire).

Image: swemill/base-java (Debian JDK 17, Maven 3.8, Debian's /usr/share/maven-repo with JUnit 4/5,
Surefire 2.22.3 and the core plugins, and swemill-debian-maven: mvn against a loopback mirror of
that repository which answers a version Debian lacks with one it has).  Maven Central is not
reachable, so only projects whose build needs nothing but what Debian ships can run.

One run of one side, in a fresh container (--network none, uid 1000, see compute.docker_base),
from /testbed:

    swemill-debian-maven -B test -Dtest=CLASSES -Dsurefire.failIfNoSpecifiedTests=false \
        -DfailIfNoTests=false [-Dmaven.compiler.source=8 -Dmaven.compiler.target=8]

CLASSES is the case's `run` (fully qualified test class names joined with ","; the test classes
of the test patch that Surefire's default includes take).  The two -Dmaven.compiler flags are
added only when the POM's maven.compiler.source/target property is below 7 (JDK 17 cannot
compile those levels).  The local repository (~/.m2) starts empty in every run.  After Maven
ends, the container copies target/surefire-reports/TEST-*.xml to a mounted output directory;
the outcomes are read from those XML reports only:

    id = <testcase classname> "#" <testcase name>   (whitespace trimmed; the class is the
         suite's name when classname is empty)
    <failure> or <error> -> fail; <skipped> -> other; else pass (a rerun's flakyFailure /
    flakyError on a passing test is noted).
    A testcase naming no method (the class failed outside its tests) is noted, not an id.

A test never reported is missing: that is what every test of the module is when the test
sources do not compile before the fix ("COMPILATION ERROR" for testCompile: noted).  The run
is broken (info["error"]) when a forked JVM crashed or timed out, when no report exists and
the build failed for another reason than a test compilation error, or when a report is not
well-formed XML.
"""
import glob, os, re, xml.etree.ElementTree as ET

IMAGE = "swemill/base-java"

CRASHES = ("The forked VM terminated without properly saying goodbye",
           "There was a timeout or other error in the fork", "Crashed tests:")


def _pom_levels(tree):
    try:
        root = ET.parse(os.path.join(tree, "pom.xml")).getroot()
    except (OSError, ET.ParseError):
        return []
    out = []
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if tag in ("maven.compiler.source", "maven.compiler.target"):
            m = re.fullmatch(r"(1\.)?(\d{1,2})", (el.text or "").strip())
            if m:
                out.append(int(m.group(2)))
    return out


def command(case, tree):
    cmd = ["swemill-debian-maven", "-B", "test", "-Dtest=" + ",".join(case["run"]),
           "-Dsurefire.failIfNoSpecifiedTests=false", "-DfailIfNoTests=false"]
    if any(l < 7 for l in _pom_levels(tree)):
        cmd += ["-Dmaven.compiler.source=8", "-Dmaven.compiler.target=8"]
    return cmd


def parse_reports(paths, notes):
    """Surefire XML reports -> ({id: pass|fail|other}, error or None)."""
    st = {}
    for p in sorted(paths):
        try:
            root = ET.parse(p).getroot()
        except ET.ParseError as e:
            return st, "report %s is not well-formed: %s" % (os.path.basename(p), e)
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for s in suites:
            for c in s.findall("testcase"):
                cls = (c.get("classname") or "").strip() or (s.get("name") or "").strip()
                name = (c.get("name") or "").strip()
                if not name or name == cls:
                    if c.find("failure") is not None or c.find("error") is not None:
                        notes.append("class %s failed outside its tests" % cls)
                    continue
                tid = cls + "#" + name
                if c.find("failure") is not None or c.find("error") is not None:
                    s_ = "fail"
                elif c.find("skipped") is not None:
                    s_ = "other"
                else:
                    s_ = "pass"
                    if c.find("flakyFailure") is not None or c.find("flakyError") is not None:
                        notes.append("%s passed on a rerun" % tid)
                prev = st.get(tid)
                if prev is not None and prev != s_:
                    notes.append("%s reported twice (%s, %s)" % (tid, prev, s_))
                    s_ = "fail" if "fail" in (prev, s_) else ("other" if "other" in (prev, s_) else "pass")
                st[tid] = s_
    return st, None


def run(case, tree, rdir, name, image, timeout, tools):
    wt = os.path.join(rdir, "testbed")
    tools.sh(["cp", "-a", tree, wt])
    outd = os.path.join(rdir, "out")
    os.makedirs(outd)
    os.chown(outd, tools.UID, tools.UID)
    mvn = " ".join("'%s'" % a for a in command(case, tree))
    script = ("rc=0; %s || rc=$?; mkdir -p /out/reports; "
              "find . -path '*/target/surefire-reports/TEST-*.xml' -type f -exec cp {} /out/reports/ \\; ; "
              "exit $rc" % mvn)
    cmd = tools.docker_base(name) + ["-v", wt + ":/testbed", "-v", outd + ":/out", image, "bash", "-c", script]
    so, se = os.path.join(rdir, "stdout"), os.path.join(rdir, "stderr")
    rc, to, dt = tools.run_container(cmd, name, so, se, timeout)
    size = os.path.getsize(so) + os.path.getsize(se)
    text = open(so, errors="replace").read() + open(se, errors="replace").read()
    notes = []
    info = {"exit_code": rc, "timed_out": to, "seconds": round(dt, 1), "output_bytes": size,
            "command": mvn, "notes": notes}
    reports = glob.glob(os.path.join(outd, "reports", "TEST-*.xml"))
    info["reports"] = len(reports)
    st, err = parse_reports(reports, notes)
    test_compile = "COMPILATION ERROR" in text and re.search(r"maven-compiler-plugin:[^ ]+:testCompile", text)
    if test_compile:
        notes.append("test sources do not compile")
    if err:
        info["error"] = err
    elif any(c in text for c in CRASHES):
        info["error"] = "a forked test JVM crashed or timed out"
    elif not reports and not test_compile:
        m = re.search(r"\[ERROR\] (Failed to execute goal [^\n]{0,300}|[^\n]*(?:Could not resolve|Non-resolvable|Unresolveable)[^\n]{0,300})", text)
        info["error"] = "no Surefire report and no test compilation error (exit %d)%s" % (rc, ": " + m.group(1) if m else "")
    info["stdout_tail"] = text[-800:]
    return st, info
