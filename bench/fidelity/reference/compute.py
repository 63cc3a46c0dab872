#!/usr/bin/env python3
"""Fidelity reference: recompute FAIL_TO_PASS / PASS_TO_PASS of corpus cases from git mirrors.

usage: compute.py --mirrors DIR [--cases FILE] [--out FILE] [--work DIR] [--jobs N] [--runs N]
                  [--py-image IMG] [--go-image IMG] [INSTANCE_ID...]

--cases FILE holds {"cases": [...]} with at least instance_id, repo, language, fix_commit,
base_commit, reference, test_paths and run (bench/fidelity/corpus.json itself will do).  For each
case it builds two trees from the bare mirror DIR/OWNER/NAME.git:
  before = checkout of base_commit, then every test_paths file replaced by its fix_commit
           version (deleted if the fix deletes it);
  after  = checkout of fix_commit;
runs each side --runs times (default 2) in a fresh copy of the tree, in a fresh container
(no network, uid 1000), and grades:
  outcome of a test in one run: pass | fail | other (skip, xpass) | missing (not reported);
  flaky        = outcome differs between the runs of one side (excluded from both lists);
  FAIL_TO_PASS = fail or missing in every before run and pass in every after run;
  PASS_TO_PASS = pass in every run of both sides.
pytest: `python -m pytest -p no:cacheprovider FILES` is reproduced by `python -c` + pytest.main()
with an in-process recorder plugin (fidelity_pytest_recorder.py); PYTHONPATH=/testbed/src when
the tree has src/<pkg>/__init__.py.
Go: modules are downloaded first in a container WITH network into WORK/gopkg (mounted as
$GOPATH/pkg, so it holds the module cache pkg/mod and the checksum-database cache pkg/sumdb), then
`go test -json -count=1 PKGS` runs with --network none, GOPROXY=off, GOFLAGS=-mod=mod and
GOSUMDB=off, and the stream is read by gojson.py.
Rust, JavaScript and Java: the module lang_<language>.py beside this file runs one side once
(see LANG_MODULES; each module documents its command, its image and how it reads the framework's
own report).
Results per case are cached in WORK/results/ID.json (delete to recompute); the output file is a
corpus (same format as corpus.json) of every computed case, kept or not; cases given with
fail_to_pass/pass_to_pass in --cases are compared and differences printed.
"""
import argparse, concurrent.futures as cf, hashlib, json, os, re, shutil, subprocess, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gojson  # noqa: E402

UID = 1000
LOCK = threading.Lock()

# language -> module of this directory.  A module has IMAGE (the base image repository) and
# run(case, tree, rdir, name, image, timeout, tools) -> (statuses {id: pass|fail|other}, info);
# info has exit_code, timed_out, seconds, output_bytes and, when the run cannot be trusted,
# "error" (a reason string).  tools is this module (docker_base, run_container, sh, log).
LANG_MODULES = {"rust": "lang_rust", "javascript": "lang_javascript", "java": "lang_java"}


def lang_module(lang):
    import importlib
    return importlib.import_module(LANG_MODULES[lang])


def log(*a):
    with LOCK:
        print(time.strftime("%H:%M:%S"), *a, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def default_image(name):
    out = subprocess.run(["docker", "images", name, "--format", "{{.Repository}}:{{.Tag}}"],
                         stdout=subprocess.PIPE, check=True).stdout.decode().split()
    if not out:
        sys.exit("no image %s on the engine" % name)
    return out[0]


def checkout(gitdir, commit, dest):
    os.makedirs(dest)
    env = dict(os.environ, GIT_INDEX_FILE=dest + ".index")
    sh(["git", "--git-dir", gitdir, "--work-tree", dest, "read-tree", commit], env=env)
    sh(["git", "--git-dir", gitdir, "--work-tree", dest, "checkout-index", "-a", "-f"], env=env)
    os.remove(dest + ".index")


def build_trees(case, gitdir, wdir):
    """Return {"before": path, "after": path} of pristine trees (owned by UID)."""
    trees = {}
    for side in ("before", "after"):
        d = os.path.join(wdir, "tree-" + side)
        if os.path.exists(d):
            shutil.rmtree(d)
        checkout(gitdir, case["base_commit"] if side == "before" else case["fix_commit"], d)
        if side == "before":
            for p in case["test_paths"]:
                dst = os.path.join(d, p)
                r = subprocess.run(["git", "--git-dir", gitdir, "ls-tree", case["fix_commit"], "--", p],
                                   stdout=subprocess.PIPE, check=True).stdout.decode().split()
                if not r:
                    if os.path.lexists(dst):
                        os.remove(dst)
                    continue
                mode = r[0]
                if mode not in ("100644", "100755"):
                    raise RuntimeError("test path %s has mode %s" % (p, mode))
                data = subprocess.run(["git", "--git-dir", gitdir, "cat-file", "blob", r[2]],
                                      stdout=subprocess.PIPE, check=True).stdout
                os.makedirs(os.path.dirname(dst) or d, exist_ok=True)
                if os.path.lexists(dst):
                    os.remove(dst)
                with open(dst, "wb") as f:
                    f.write(data)
                os.chmod(dst, 0o755 if mode == "100755" else 0o644)
        sh(["chown", "-R", "%d:%d" % (UID, UID), d])
        trees[side] = d
    return trees


def docker_base(name, network=False):
    cmd = ["docker", "run", "--rm", "--name", name, "--user", "%d:%d" % (UID, UID),
           "--cpus", "1", "--memory", "4g", "--pids-limit", "2048",
           "--security-opt", "no-new-privileges", "--cap-drop", "ALL", "-w", "/testbed"]
    if not network:
        cmd += ["--network", "none"]
    return cmd


def run_container(cmd, name, stdout_path, stderr_path, timeout):
    t0 = time.time()
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        p = subprocess.Popen(cmd, stdout=so, stderr=se)
        try:
            rc = p.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            subprocess.run(["docker", "kill", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rc = p.wait()
            timed_out = True
    return rc, timed_out, time.time() - t0


def has_src_layout(tree):
    src = os.path.join(tree, "src")
    if not os.path.isdir(src):
        return False
    return any(os.path.isfile(os.path.join(src, n, "__init__.py")) for n in os.listdir(src))


def pytest_statuses(rec):
    """records of one run -> {nodeid: pass|fail|other}"""
    phases = {}
    for r in rec["reports"]:
        phases.setdefault(r["nodeid"], []).append(r)
    out = {}
    for nid, rs in phases.items():
        if any(r["outcome"] == "failed" for r in rs):
            out[nid] = "fail"
            continue
        call = [r for r in rs if r["when"] == "call"]
        if call:
            c = call[-1]
            if c["outcome"] == "passed":
                out[nid] = "other" if c["wasxfail"] else "pass"
            elif c["outcome"] == "skipped":
                out[nid] = "pass" if c["wasxfail"] else "other"
            else:
                out[nid] = "fail"
            continue
        setup = [r for r in rs if r["when"] == "setup"]
        if setup and setup[-1]["outcome"] == "skipped":
            out[nid] = "pass" if setup[-1]["wasxfail"] else "other"
        else:
            out[nid] = "fail"  # setup passed but no call report: should not happen
    return out


def run_python(case, tree, rdir, name, image, timeout):
    wt = os.path.join(rdir, "testbed")
    sh(["cp", "-a", tree, wt])
    outd = os.path.join(rdir, "out")
    os.makedirs(outd)
    os.chown(outd, UID, UID)
    cmd = docker_base(name) + ["-v", wt + ":/testbed", "-v", HERE + ":/fidelity:ro", "-v", outd + ":/out",
                               "-e", "FIDELITY_OUT=/out/pytest-records.json"]
    if has_src_layout(tree):
        cmd += ["-e", "PYTHONPATH=/testbed/src"]
    cmd += [image, "python", "-c",
            "import sys; sys.path.append('/fidelity'); import fidelity_pytest_recorder as r; sys.exit(r.main())",
            "-p", "no:cacheprovider"] + case["run"]
    rc, to, dt = run_container(cmd, name, os.path.join(rdir, "stdout"), os.path.join(rdir, "stderr"), timeout)
    size = os.path.getsize(os.path.join(rdir, "stdout")) + os.path.getsize(os.path.join(rdir, "stderr"))
    recp = os.path.join(outd, "pytest-records.json")
    info = {"exit_code": rc, "timed_out": to, "seconds": round(dt, 1), "output_bytes": size}
    if not os.path.exists(recp):
        info["error"] = "no recorder output"
        return {}, info
    with open(recp) as f:
        rec = json.load(f)
    info["pytest_exit"] = rec["exit_code"]
    info["rootdir"] = rec["rootdir"]
    info["collect_errors"] = [c["nodeid"] for c in rec["collect_errors"]]
    text = open(os.path.join(rdir, "stdout"), errors="replace").read()
    mods = sorted(set(re.findall(r"No module named '([^']+)'", text)))
    # a module of the project itself (e.g. one the fix adds) vs. a third-party one (environment)
    top = lambda m: m.split(".")[0]
    internal = lambda m: any(os.path.exists(os.path.join(wt, pre, top(m) + ext))
                             for pre in ("", "src") for ext in ("", ".py"))
    info["missing_modules"] = [m for m in mods if internal(m)]
    info["missing_third_party"] = [m for m in mods if not internal(m)]
    return pytest_statuses(rec), info


def ca_args():
    """This machine reaches the Go module proxy through a TLS-intercepting egress proxy whose CA
    is in the host's bundle only; hand that bundle to the (download-only) prepare container."""
    ca = os.environ.get("FIDELITY_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    if os.path.exists(ca):
        return ["-v", ca + ":/etc/fidelity-ca.crt:ro", "-e", "SSL_CERT_FILE=/etc/fidelity-ca.crt"]
    return []


def go_prepare(tree, wdir, name, image, cache):
    """Download the modules the tree's tests need, with network, into the shared module cache."""
    if not os.path.exists(os.path.join(tree, "go.mod")):
        return "no go.mod"
    prep = os.path.join(wdir, "prep-" + os.path.basename(tree))
    if os.path.exists(prep):
        shutil.rmtree(prep)
    sh(["cp", "-a", tree, prep])
    cmd = docker_base(name, network=True) + [
        "-v", prep + ":/testbed", "-v", cache["pkg"] + ":/home/swemill/go/pkg",
        "-v", cache["build"] + ":/home/swemill/.cache/go-build",
        "-e", "GOFLAGS=-buildvcs=false -mod=mod"] + ca_args() + [image, "sh", "-c",
        "go mod download && go list -deps -test ./... >/dev/null"]
    rc, to, dt = run_container(cmd, name, os.path.join(wdir, "prep.out"), os.path.join(wdir, "prep.err"), 900)
    shutil.rmtree(prep, ignore_errors=True)
    return "ok" if rc == 0 else "prep exit %d: %s" % (rc, open(os.path.join(wdir, "prep.err"), errors="replace").read()[-500:])


def run_go(case, tree, rdir, name, image, timeout, cache):
    wt = os.path.join(rdir, "testbed")
    sh(["cp", "-a", tree, wt])
    cmd = docker_base(name) + [
        "-v", wt + ":/testbed", "-v", cache["pkg"] + ":/home/swemill/go/pkg:ro",
        "-v", cache["build"] + ":/home/swemill/.cache/go-build",
        "-e", "GOFLAGS=-buildvcs=false -mod=mod", "-e", "GOPROXY=off", "-e", "GOSUMDB=off",
        image, "go", "test", "-json", "-count=1"] + case["run"]
    so, se = os.path.join(rdir, "stdout"), os.path.join(rdir, "stderr")
    rc, to, dt = run_container(cmd, name, so, se, timeout)
    size = os.path.getsize(so) + os.path.getsize(se)
    res = gojson.parse(open(so, "rb").read().decode("utf-8", "replace"))
    info = {"exit_code": rc, "timed_out": to, "seconds": round(dt, 1), "output_bytes": size,
            "json_bytes": os.path.getsize(so), "packages": res["packages"], "parse_notes": res["notes"],
            "stderr_tail": open(se, errors="replace").read()[-600:]}
    err = open(se, errors="replace").read() + open(so, errors="replace").read()
    m = re.findall(r"(cannot find module providing package [^\s\"]+|module lookup disabled[^\n\"]*|missing go.sum entry[^\n\"]*)", err)
    if m:
        info["module_errors"] = sorted(set(m))[:5]
    return res["tests"], info


def grade(before, after):
    """before/after: lists of {id: status} (one per run)."""
    flaky = set()
    for runs in (before, after):
        ids = set().union(*[set(r) for r in runs])
        for t in ids:
            if len({r.get(t, "missing") for r in runs}) > 1:
                flaky.add(t)
    allids = set().union(*[set(r) for r in before + after])
    f2p, p2p = [], []
    for t in allids - flaky:
        b = [r.get(t, "missing") for r in before]
        a = [r.get(t, "missing") for r in after]
        if all(x in ("fail", "missing") for x in b) and all(x == "pass" for x in a):
            f2p.append(t)
        elif all(x == "pass" for x in b + a):
            p2p.append(t)
    return sorted(f2p), sorted(p2p), sorted(flaky)


def compute_case(case, args, images, cache):
    iid = case["instance_id"]
    resp = os.path.join(args.work, "results", iid + ".json")
    if os.path.exists(resp) and not args.force:
        return json.load(open(resp))
    gitdir = os.path.join(args.mirrors, case["repo"] + ".git")
    wdir = os.path.join(args.work, "runs", iid)
    if os.path.exists(wdir):
        shutil.rmtree(wdir)
    os.makedirs(wdir)
    t0 = time.time()
    trees = build_trees(case, gitdir, wdir)
    lang = case["language"]
    sides = {"before": [], "after": []}
    infos = {"before": [], "after": []}
    prep = {}
    # container names: a readable prefix and a digest of the whole id, so that long ids with a
    # common prefix (one repository's cases run side by side) never share a name
    tag = "%s-%s" % (re.sub(r"[^a-z0-9_.-]", "-", iid.lower())[:32],
                     hashlib.sha1(iid.encode()).hexdigest()[:8])
    for side in ("before", "after"):
        if lang == "go":
            prep[side] = go_prepare(trees[side], wdir, "fid-prep-%s-%s" % (tag, side), images["go"], cache)
        for n in range(args.runs):
            rdir = os.path.join(wdir, "%s-%d" % (side, n + 1))
            os.makedirs(rdir)
            name = "fid-%s-%s%d" % (tag, side, n + 1)
            if lang == "python":
                st, info = run_python(case, trees[side], rdir, name, images["python"], args.timeout)
            elif lang == "go":
                st, info = run_go(case, trees[side], rdir, name, images["go"], args.timeout, cache)
            else:
                st, info = lang_module(lang).run(case, trees[side], rdir, name, images[lang], args.timeout,
                                                 sys.modules[__name__])
            info["tests"] = len(st)
            sides[side].append(st)
            infos[side].append(info)
            shutil.rmtree(os.path.join(rdir, "testbed"), ignore_errors=True)
            log(iid, side, n + 1, "tests=%d exit=%s %.0fs %dB" % (len(st), info["exit_code"], info["seconds"], info["output_bytes"]))
    f2p, p2p, flaky = grade(sides["before"], sides["after"])
    broken = []
    for side in ("before", "after"):
        for n, i in enumerate(infos[side]):
            if i["timed_out"]:
                broken.append("%s run %d timed out" % (side, n + 1))
            if i.get("error"):
                broken.append("%s run %d: %s" % (side, n + 1, i["error"]))
            if i.get("missing_third_party"):
                broken.append("%s run %d: third-party module missing: %s" % (side, n + 1, ", ".join(i["missing_third_party"])))
            if i.get("module_errors"):
                broken.append("%s run %d: %s" % (side, n + 1, i["module_errors"][0]))
    res = {
        "instance_id": iid,
        "fail_to_pass": f2p, "pass_to_pass": p2p, "pass_to_pass_count": len(p2p), "flaky": flaky,
        "before_tests": len(set().union(*[set(r) for r in sides["before"]])),
        "after_tests": len(set().union(*[set(r) for r in sides["after"]])),
        "max_output_bytes": max(i["output_bytes"] for i in infos["before"] + infos["after"]),
        "broken": broken, "runs": infos, "go_prepare": prep, "seconds": round(time.time() - t0, 1),
        "before_status_of_f2p": {t: sides["before"][0].get(t, "missing") for t in f2p},
    }
    if not args.keep_trees:
        for side in trees.values():
            shutil.rmtree(side, ignore_errors=True)
    os.makedirs(os.path.dirname(resp), exist_ok=True)
    with open(resp, "w") as f:
        json.dump(res, f, indent=1)
    log(iid, "done: f2p=%d p2p=%d flaky=%d in %.0fs" % (len(f2p), len(p2p), len(flaky), res["seconds"]))
    return res


def auto_notes(case, res):
    notes = ["BROKEN: " + b for b in res.get("broken", [])]
    b = res["runs"]["before"]
    ce = sorted(set(x for i in b for x in i.get("collect_errors", [])))
    if ce:
        notes.append("collection error before the fix in %s" % ", ".join(ce))
    mm = sorted(set(x for i in b + res["runs"]["after"] for x in i.get("missing_modules", [])))
    if mm:
        notes.append("ModuleNotFoundError for %s (a module of the project that the fix adds)" % ", ".join(mm))
    miss = sum(1 for s in res["before_status_of_f2p"].values() if s == "missing")
    if miss:
        notes.append("%d of %d fail_to_pass tests are missing before the fix (not reported)" % (miss, len(res["fail_to_pass"])))
    if case["language"] == "go":
        for n in sorted(set(x for i in b for x in i.get("parse_notes", []))):
            notes.append("before the fix: " + n)
        mb = max(i.get("json_bytes", 0) for i in b + res["runs"]["after"])
        if mb > 1 << 20:
            notes.append("go test -json output %.1f MiB" % (mb / 1048576.0))
    elif res["max_output_bytes"] > 1 << 20:
        notes.append("%s output %.1f MiB" % ("pytest" if case["language"] == "python" else case["language"],
                                             res["max_output_bytes"] / 1048576.0))
    for n in sorted(set(x for i in b for x in i.get("notes", []))):
        notes.append("before the fix: " + n)
    if res["flaky"]:
        notes.append("%d flaky" % len(res["flaky"]))
    return notes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", required=True)
    ap.add_argument("--cases", default=os.path.join(HERE, "..", "corpus.json"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--work", default="/tmp/fidelity-work")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("--py-image", default=None)
    ap.add_argument("--go-image", default=None)
    ap.add_argument("--force", action="store_true", help="ignore cached results")
    ap.add_argument("--keep-trees", action="store_true")
    ap.add_argument("--keep-only-valid", action="store_true",
                    help="write only cases with a non-empty fail_to_pass and no broken run")
    ap.add_argument("ids", nargs="*")
    args = ap.parse_args()
    data = json.load(open(args.cases))
    cases = data["cases"] if isinstance(data, dict) else data
    if args.ids:
        cases = [c for c in cases if c["instance_id"] in args.ids]
    langs = {c["language"] for c in cases}
    images = {"python": args.py_image or ("python" in langs and default_image("swemill/base-python")),
              "go": args.go_image or ("go" in langs and default_image("swemill/base-go"))}
    for lang in LANG_MODULES:
        if lang in langs:
            images[lang] = os.environ.get(lang.upper() + "_IMAGE") or default_image(lang_module(lang).IMAGE)
    os.makedirs(args.work, exist_ok=True)
    cache = {"pkg": os.path.join(args.work, "gopkg"), "build": os.path.join(args.work, "gobuildcache")}
    for d in cache.values():
        os.makedirs(d, exist_ok=True)
        os.chown(d, UID, UID)
    log("images", images, "cases", len(cases))
    t0 = time.time()
    results = {}
    with cf.ThreadPoolExecutor(args.jobs) as ex:
        futs = {ex.submit(compute_case, c, args, images, cache): c for c in cases}
        for fu in cf.as_completed(futs):
            c = futs[fu]
            try:
                results[c["instance_id"]] = fu.result()
            except Exception as e:  # keep going; report
                log(c["instance_id"], "ERROR", repr(e))
    log("all done in %.0fs" % (time.time() - t0))
    out_cases = []
    diffs = 0
    for c in cases:
        r = results.get(c["instance_id"])
        if r is None:
            continue
        if "fail_to_pass" in c:
            for k in ("fail_to_pass", "pass_to_pass", "flaky"):
                if sorted(c.get(k, [])) != r[k]:
                    diffs += 1
                    log(c["instance_id"], "DIFF", k, "given", len(c.get(k, [])), "computed", len(r[k]),
                        "only given:", sorted(set(c.get(k, [])) - set(r[k]))[:5],
                        "only computed:", sorted(set(r[k]) - set(c.get(k, [])))[:5])
        if args.keep_only_valid and (not r["fail_to_pass"] or r.get("broken")):
            log(c["instance_id"], "dropped:", "broken" if r.get("broken") else "empty fail_to_pass")
            continue
        o = {k: c[k] for k in ("instance_id", "repo", "language", "fix_commit", "base_commit", "reference",
                               "test_paths", "run")}
        for k in ("fail_to_pass", "pass_to_pass", "pass_to_pass_count", "flaky", "before_tests",
                  "after_tests", "max_output_bytes"):
            o[k] = r[k]
        notes = auto_notes(c, r)
        if c.get("subject"):
            notes.append("commit: " + c["subject"][:100])
        o["notes"] = c.get("notes") or "; ".join(notes)
        out_cases.append(o)
    if "fail_to_pass" in (cases[0] if cases else {}):
        log("compared with --cases: %d differences" % diffs)
    if args.out:
        env = {"python_image": images["python"] or None, "go_image": images["go"] or None,
               "pytest": "7.2.1", "python": "3.11", "go": "go1.26.8"}
        for lang in LANG_MODULES:
            if images.get(lang):
                env[lang + "_image"] = images[lang]
        with open(args.out, "w") as f:
            json.dump({"version": 1, "generated_by": "bench/fidelity/reference (see bench/fidelity/README.md)",
                       "environment": env, "cases": out_cases}, f, indent=1)
            f.write("\n")
        log("wrote", args.out, len(out_cases), "cases")


if __name__ == "__main__":
    main()
