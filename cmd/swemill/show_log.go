package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"swemill/envbuild"
	"swemill/pipeline"
	"swemill/runstore"
	"swemill/stages/validate"
)

// showLogLines is how many lines of the failing step's log `show` prints.
const showLogLines = 40

// maxShownLine caps one printed log line, in bytes.
const maxShownLine = 400

// writeFailureLogs prints, for each of the instance's build and validate stages that failed
// or dropped it, the last lines of the log of the step that did: the build log for build,
// for validate the log of the run whose problem decided (else the last run). It names the
// artifact the lines come from; without a log it prints the recorded detail in full.
func writeFailureLogs(w io.Writer, store *runstore.Store, d *runstore.InstanceDetail) error {
	for _, s := range d.Stages {
		if s.State != pipeline.StateDropped && s.State != pipeline.StateFailed {
			continue
		}
		var log *runstore.StoredArtifact
		switch s.Stage {
		case pipeline.StageBuild:
			log = findArtifact(d, s.Stage, s.Generation, envbuild.BuildLogArtifact)
		case pipeline.StageValidate:
			var err error
			if log, err = decisiveRunLog(store, d, s); err != nil {
				return err
			}
		default:
			continue
		}
		what := string(s.State)
		if s.Reason != "" {
			what += " (" + s.Reason + ")"
		}
		if log == nil {
			if strings.Contains(s.Detail, "\n") {
				fmt.Fprintf(w, "\n%s %s, with no log stored; the recorded detail:\n", s.Stage, what)
				for _, line := range lastLines([]byte(s.Detail), showLogLines) {
					fmt.Fprintf(w, "  %s\n", line)
				}
			}
			continue
		}
		data, err := readTail(store, log.ArtifactRef, 256<<10)
		if err != nil {
			return err
		}
		lines := lastLines(data, showLogLines)
		count := fmt.Sprintf("the last %d lines", len(lines))
		if len(lines) < showLogLines {
			count = fmt.Sprintf("all %d lines", len(lines))
		}
		fmt.Fprintf(w, "\n%s %s: %s of %s (generation %d, %s):\n", s.Stage, what, count, log.Name, log.Generation, log.Path)
		for _, line := range lines {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	return nil
}

// findArtifact returns the artifact named name that stage stored in generation gen, or nil.
func findArtifact(d *runstore.InstanceDetail, stage string, gen int64, name string) *runstore.StoredArtifact {
	for i := range d.Artifacts {
		a := &d.Artifacts[i]
		if a.Stage == stage && a.Generation == gen && a.Name == name {
			return a
		}
	}
	return nil
}

// runArtifactRE matches the validate stage's run logs, validate/<side>-<index>.log.
var runArtifactRE = regexp.MustCompile(`^validate/(` + validate.SideBefore + `|` + validate.SideAfter + `)-([0-9]+)\.log$`)

// decidingRunRE finds the run a validate drop names: "before run 2: ...".
var decidingRunRE = regexp.MustCompile(`^(` + validate.SideBefore + `|` + validate.SideAfter + `) run ([0-9]+):`)

// decisiveRunLog returns the log of the validation run that decided the stage's outcome, or
// nil when none was stored.
func decisiveRunLog(store *runstore.Store, d *runstore.InstanceDetail, s runstore.StageDetail) (*runstore.StoredArtifact, error) {
	var runs []pipeline.TestRun
	if a := findArtifact(d, s.Stage, s.Generation, validate.ValidationArtifact); a != nil {
		data, err := store.Artifacts().Read(a.ArtifactRef)
		if err != nil {
			return nil, err
		}
		var v pipeline.Validation
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decoding the validation of %s: %w", d.Instance.InstanceID, err)
		}
		runs = v.Runs
	} else {
		// No validation.json (an infrastructure failure): the runs are known by their logs.
		for _, a := range d.Artifacts {
			m := runArtifactRE.FindStringSubmatch(a.Name)
			if a.Stage != s.Stage || a.Generation != s.Generation || m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[2])
			runs = append(runs, pipeline.TestRun{Side: m[1], Index: i, Log: a.ArtifactRef})
		}
	}
	r, ok := decisiveRun(runs, s.Reason, s.Detail)
	if !ok {
		return nil, nil
	}
	if a := findArtifact(d, s.Stage, s.Generation, validate.LogArtifact(r.Side, r.Index)); a != nil {
		return a, nil
	}
	if r.Log.Digest == "" {
		return nil, nil
	}
	return &runstore.StoredArtifact{Stage: s.Stage, Generation: s.Generation, ArtifactRef: r.Log, Path: store.Artifacts().Path(r.Log.Digest)}, nil
}

// decisiveRun picks, among validation runs, the one whose problem decided a drop: the run
// the drop's detail names ("before run 2: ..."), else for suite_timeout and suite_oom the
// first run that timed out or ran out of memory, else the last run (the after side's
// highest index).
func decisiveRun(runs []pipeline.TestRun, reason, detail string) (pipeline.TestRun, bool) {
	if len(runs) == 0 {
		return pipeline.TestRun{}, false
	}
	runs = append([]pipeline.TestRun(nil), runs...)
	sort.SliceStable(runs, func(a, b int) bool {
		if runs[a].Side != runs[b].Side {
			return runs[a].Side == validate.SideBefore
		}
		return runs[a].Index < runs[b].Index
	})
	if m := decidingRunRE.FindStringSubmatch(detail); m != nil {
		i, _ := strconv.Atoi(m[2])
		for _, r := range runs {
			if r.Side == m[1] && r.Index == i {
				return r, true
			}
		}
	}
	for _, r := range runs {
		if reason == "suite_timeout" && r.TimedOut || reason == "suite_oom" && r.OOM {
			return r, true
		}
	}
	return runs[len(runs)-1], true
}

// readTail returns up to the last limit bytes of an artifact, starting at a line.
func readTail(store *runstore.Store, ref pipeline.ArtifactRef, limit int64) ([]byte, error) {
	rc, err := store.Artifacts().Open(ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if sk, ok := rc.(io.Seeker); ok && ref.Size > limit {
		if _, err := sk.Seek(ref.Size-limit, io.SeekStart); err != nil {
			return nil, fmt.Errorf("reading artifact %s: %w", ref.Name, err)
		}
		data, err := io.ReadAll(rc)
		if err != nil {
			return nil, fmt.Errorf("reading artifact %s: %w", ref.Name, err)
		}
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
		return data, nil
	}
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading artifact %s: %w", ref.Name, err)
	}
	if int64(len(data)) > limit {
		data = data[int64(len(data))-limit:]
	}
	return data, nil
}

// lastLines returns the last n lines of data as a terminal would show them: a carriage
// return (progress bars) keeps what follows it, long lines are cut, trailing blank lines go.
func lastLines(data []byte, n int) []string {
	text := strings.TrimRight(string(data), "\r\n\t ")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			l = l[j+1:]
		}
		if len(l) > maxShownLine {
			l = strings.ToValidUTF8(l[:maxShownLine], "") + " [...]"
		}
		lines[i] = l
	}
	return lines
}
