#!/usr/bin/env python3
"""Find candidate fix commits in a bare mirror (reads git history only; runs nothing).

usage: find_candidates.py MIRRORS_DIR OWNER/NAME --lang python|go|rust|javascript|java [--max N]

Prints one JSON object per line: repo, fix_commit, base_commit, reference, number,
test_paths, run, subject, and static warnings.  A candidate is a first-parent commit of
the default branch whose message names an issue/PR (#N), whose diff against its first
parent changes both test files and real code, is modest (<= 20 files, <= 600 changed
lines), has no binary files, symlinks or submodules, and whose tests are runnable the
way swemill selects them (pytest files / Go package dirs / cargo targets / Jest files / Maven
test classes).  Rust, JavaScript and Java candidates must also build offline: no crate
dependencies at all (cargo resolves dev-, build- and optional ones too), Jest named in
package.json, a root pom.xml; what may still stop them is printed as a warning.
"""
import argparse, ast, json, os, re, subprocess, sys

TEST_DIRS = {"tests", "test", "testing", "testdata"}
DOC_EXT = {".md", ".rst", ".txt", ".adoc", ".html", ".css", ".yml", ".yaml", ".toml", ".cfg",
           ".ini", ".in", ".json", ".lock", ".sum"}
FIXWORDS = re.compile(r"\b(fix|fixe[sd]|bug|issue|error|crash|wrong|incorrect|regression|broken|handle|panic)\b", re.I)


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo] + list(args), check=True, stderr=subprocess.DEVNULL,
                          stdout=subprocess.PIPE).stdout.decode("utf-8", "replace")


# Further test-file rules of swemill's split (difftext) for the languages that have them.
LANG_TEST_DIRS = {"rust": set(), "javascript": {"__tests__", "__test__", "spec", "specs"}, "java": set()}
LANG_TEST_SUFFIXES = {
    "rust": ("_test.rs", "_tests.rs"),
    "javascript": tuple(".%s.%s" % (k, e) for k in ("test", "spec")
                        for e in ("js", "jsx", "ts", "tsx", "mjs", "cjs", "mts", "cts")),
    "java": ("Test.java", "Tests.java"),
}
CODE_EXT = {"python": (".py",), "go": (".go",), "rust": (".rs",), "java": (".java",),
            "javascript": (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")}
JEST_FILE = re.compile(r"(^|/)__tests__/.*\.[cm]?[jt]sx?$|(^|/)[^/]*[.](test|spec)\.[cm]?[jt]sx?$")
CRATE_DEPS = re.compile(r"^\[(workspace\.|target\..+\.)?(dependencies|dev-dependencies|build-dependencies)(\.([^\]]+))?\]")


def is_test_path(p, lang=None):
    parts = p.split("/")
    base = parts[-1]
    if any(d in TEST_DIRS or d in LANG_TEST_DIRS.get(lang, ()) for d in parts[:-1]):
        return True
    if lang == "rust" and base in ("tests.rs", "test.rs"):
        return True
    if base.endswith(LANG_TEST_SUFFIXES.get(lang, ())) and (lang != "java" or "/test/" in "/" + p):
        return True
    return (base.startswith("test_") and base.endswith(".py")) or base.endswith("_test.py") \
        or base == "conftest.py" or base.endswith("_test.go")


def reference_of(subject, body):
    m = re.match(r"Merge pull request #(\d+)", subject)
    if m:
        return int(m.group(1))
    m = re.search(r"\(#(\d+)\)\s*$", subject)
    if m:
        return int(m.group(1))
    m = re.search(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s*#(\d+)", subject + "\n" + body)
    if m:
        return int(m.group(1))
    m = re.search(r"#(\d+)", subject + "\n" + body)
    if m:
        return int(m.group(1))
    return None


def crate_dependencies(toml):
    """Names of every dependency a Cargo.toml declares (any table, any target)."""
    out, table = [], None
    for line in toml.splitlines():
        t = line.strip()
        if t.startswith("["):
            table = CRATE_DEPS.match(t)
            if table and table.group(4):
                out.append(table.group(4))
            continue
        if table and not table.group(4) and "=" in t and not t.startswith("#"):
            out.append(t.split("=")[0].strip())
    return out


def cargo_run(tests, deleted):
    """cargo's target options for the test files: --test NAME, --tests, --lib."""
    run = []
    for p in tests:
        if p in deleted or not p.endswith(".rs"):
            continue
        parts = p.split("/")
        if parts[0] == "tests" and len(parts) == 2:
            opt = ["--test", parts[1][:-3]]
        elif parts[0] == "tests" and len(parts) == 3 and parts[2] == "main.rs":
            opt = ["--test", parts[1]]
        elif parts[0] == "tests":
            opt = ["--tests"]
        else:
            opt = ["--lib"]
        if opt[0] == "--test":
            if not any(run[i:i + 2] == opt for i in range(len(run) - 1)):
                run += opt
        elif opt[0] not in run:
            run += opt
    return run


def top_modules(src):
    names = set()
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for h in node.handlers:
                t = ast.unparse(h.type) if h.type else ""
                if "ImportError" in t or "ModuleNotFoundError" in t or t == "":
                    for b in node.body:
                        for n in ast.walk(b):
                            guarded.add(id(n))
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                names.add(a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mirrors")
    ap.add_argument("repo")
    ap.add_argument("--lang", required=True)
    ap.add_argument("--max", type=int, default=400, help="first-parent commits to scan")
    ap.add_argument("--all", action="store_true", help="also print rejected commits with reason")
    a = ap.parse_args()
    repo = os.path.join(a.mirrors, a.repo + ".git")
    log = git(repo, "log", "--first-parent", "-n", str(a.max), "--format=%H%x01%P%x01%s%x01%b%x02", "HEAD")
    for rec in log.split("\x02"):
        rec = rec.strip("\n")
        if not rec:
            continue
        h, parents, subject, body = rec.split("\x01", 3)
        parents = parents.split()
        rej = lambda why: a.all and print(json.dumps({"fix_commit": h, "subject": subject, "reject": why}))
        if not parents:
            continue
        ref = reference_of(subject, body)
        if ref is None:
            rej("no reference"); continue
        base = parents[0]
        raw = git(repo, "diff", "--no-renames", "--raw", "-z", base, h)
        f = raw.split("\x00")
        entries = []
        i = 0
        while i < len(f) - 1:
            meta = f[i].split()
            path = f[i + 1]
            i += 2
            entries.append((meta[0][1:], meta[1], meta[4], path))
        bad = [e for e in entries if e[0] in ("120000", "160000") or e[1] in ("120000", "160000")]
        if bad:
            rej("symlink/submodule"); continue
        num = git(repo, "diff", "--no-renames", "--numstat", base, h)
        lines = 0
        binary = False
        for ln in num.splitlines():
            x, y, _ = ln.split("\t", 2)
            if x == "-":
                binary = True
            else:
                lines += int(x) + int(y)
        if binary:
            rej("binary"); continue
        if len(entries) > 20 or lines > 600:
            rej("too large %d files %d lines" % (len(entries), lines)); continue
        tests = sorted(e[3] for e in entries if is_test_path(e[3], a.lang))
        code = [e[3] for e in entries if not is_test_path(e[3], a.lang)]
        if not tests:
            rej("no tests"); continue
        realcode = [p for p in code if p.endswith(CODE_EXT[a.lang])
                    and not p.startswith(("docs/", "doc/", "examples/", "benches/", ".github/"))]
        if not realcode:
            rej("no code change"); continue
        deleted_tests = [e[3] for e in entries if is_test_path(e[3], a.lang) and e[2] == "D"]
        warn = []
        show = lambda rev, path: git(repo, "show", "%s:%s" % (rev, path))
        if a.lang == "rust":
            try:
                toml = show(base, "Cargo.toml")
            except subprocess.CalledProcessError:
                rej("no Cargo.toml at base"); continue
            deps = crate_dependencies(toml)
            if deps:
                rej("crate dependencies (not resolvable offline): %s" % deps[:6]); continue
            run = cargo_run(tests, deleted_tests)
            if not run:
                rej("no cargo test target"); continue
            if "[workspace]" in toml:
                warn.append("workspace: --workspace runs every member")
        elif a.lang == "javascript":
            try:
                pkg = json.loads(show(base, "package.json"))
            except (subprocess.CalledProcessError, ValueError):
                rej("no readable package.json at base"); continue
            dev = dict(pkg.get("devDependencies") or {})
            names_jest = "jest" in dev or "jest" in pkg or "jest" in (pkg.get("scripts") or {}).get("test", "")
            if not names_jest:
                rej("package.json does not name Jest"); continue
            run = [p for p in tests if JEST_FILE.search(p) and p not in deleted_tests
                   and "__snapshots__" not in p and "__mocks__" not in p]
            if not run:
                rej("no Jest test files"); continue
            if pkg.get("dependencies"):
                warn.append("runtime dependencies: %s" % sorted(pkg["dependencies"])[:6])
            other = sorted(d for d in dev if d != "jest" and not d.startswith(("@babel/", "babel-", "eslint", "prettier")))
            if other:
                warn.append("devDependencies besides Jest and Babel: %s" % other[:6])
            if "ts-jest" in dev:
                warn.append("ts-jest (not in Debian)")
        elif a.lang == "java":
            try:
                pom = show(base, "pom.xml")
            except subprocess.CalledProcessError:
                rej("no pom.xml at base"); continue
            run = sorted({re.sub(r"^.*?src/test/java/", "", p)[:-5].replace("/", ".")
                          for p in tests if p.endswith(".java") and p not in deleted_tests
                          and "/src/test/java/" in "/" + p and p.endswith(LANG_TEST_SUFFIXES["java"])})
            if not run:
                rej("no test classes"); continue
            if "<modules>" in pom:
                warn.append("multi-module build")
            if "<parent>" in pom:
                warn.append("parent POM (must be in Debian's repository)")
        elif a.lang == "python":
            run = [p for p in tests if p.endswith(".py") and os.path.basename(p) not in ("conftest.py", "__init__.py")]
            run = [p for p in run if p not in deleted_tests]
            if not run:
                rej("no runnable test files"); continue
            nottest = [p for p in run if not (os.path.basename(p).startswith("test_") or p.endswith("_test.py"))]
            if nottest:
                rej("non-test .py among test paths: %s" % nottest); continue
            tree = git(repo, "ls-tree", "-r", "--name-only", h).splitlines()
            tops = set()
            for p in tree:
                parts = p.split("/")
                for pre in ([], ["src"]):
                    if parts[:len(pre)] == pre and len(parts) > len(pre):
                        nm = parts[len(pre)]
                        tops.add(nm[:-3] if nm.endswith(".py") else nm)
            for p in run:
                d = os.path.dirname(p)
                for q in tree:
                    if os.path.dirname(q) == d:
                        b = os.path.basename(q)
                        tops.add(b[:-3] if b.endswith(".py") else b)
            allowed = set(sys.stdlib_module_names) | {"pytest", "_pytest", "py", "__future__"} | tops
            files = list(run)
            for p in run:
                parts = p.split("/")
                for k in range(len(parts)):
                    c = "/".join(parts[:k] + ["conftest.py"])
                    if c in tree and c not in files:
                        files.append(c)
            foreign = set()
            for p in files:
                mods = top_modules(git(repo, "show", "%s:%s" % (h, p)))
                if mods is None:
                    warn.append("syntax error in %s" % p)
                    continue
                foreign |= mods - allowed
            if foreign:
                rej("third-party imports %s" % sorted(foreign)); continue
            # pytest config addopts
            for cfg in ("pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml"):
                try:
                    txt = git(repo, "show", "%s:%s" % (base, cfg))
                except subprocess.CalledProcessError:
                    continue
                m = re.search(r"addopts\s*=\s*(.*)", txt)
                if m and re.search(r"--cov|-n\s|--doctest|--benchmark|-p\s+(?!no:)|--timeout|--mypy|--flake8|--black|--hypothesis", m.group(1)):
                    warn.append("%s addopts: %s" % (cfg, m.group(1).strip()))
        else:
            gomod = None
            try:
                gomod = git(repo, "show", "%s:go.mod" % base)
            except subprocess.CalledProcessError:
                rej("no go.mod at base"); continue
            m = re.search(r"^go\s+(\d+)\.(\d+)", gomod, re.M)
            if m and (int(m.group(1)), int(m.group(2))) > (1, 26):
                rej("go directive too new"); continue
            pk = set()
            for p in tests:
                if p.endswith("_test.go") and p not in deleted_tests:
                    d = os.path.dirname(p)
                    pk.add("./" + d if d else ".")
                parts = p.split("/")
                if "testdata" in parts[:-1]:
                    d = "/".join(parts[:parts.index("testdata")])
                    pk.add("./" + d if d else ".")
            run = sorted(pk)
            if not run:
                rej("no test packages"); continue
            nested = []
            tree = set(git(repo, "ls-tree", "-r", "--name-only", h).splitlines())
            for d in run:
                dd = d[2:] if d != "." else ""
                parts = dd.split("/") if dd else []
                for k in range(len(parts), 0, -1):
                    if "/".join(parts[:k] + ["go.mod"]) in tree:
                        nested.append(d)
                        break
            if nested:
                rej("package in nested module %s" % nested); continue
        out = {"repo": a.repo, "fix_commit": h, "base_commit": base, "number": ref,
               "reference": "#%d" % ref, "subject": subject, "fixlike": bool(FIXWORDS.search(subject + " " + body)),
               "test_paths": tests, "run": run, "files": len(entries), "lines": lines,
               "merge": len(parents) > 1}
        if warn:
            out["warn"] = warn
        print(json.dumps(out))


if __name__ == "__main__":
    main()
