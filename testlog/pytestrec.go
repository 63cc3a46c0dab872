package testlog

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"io"

	"swemill/pipeline"
)

// PytestPlugin is the source of swemill's pytest plugin, a module named PytestPluginModule.
// Put it on PYTHONPATH, name it in PYTEST_PLUGINS and set SWEMILL_PYTEST_RESULTS to the file
// it should write (StreamPytest): it records every test report pytest makes, with the node
// id the short test summary would print, and the start and end of the session.
//
//go:embed swemill_results.py
var PytestPlugin []byte

// PytestPluginModule is the module name of PytestPlugin.
const PytestPluginModule = "swemill_results"

// pytestRecord is one line the plugin writes.
type pytestRecord struct {
	E  string `json:"e"`
	ID string `json:"id"`
	// IDX is the id's bytes in hex, written instead of ID when the id is not valid UTF-8
	// (a file name with such bytes, decoded by Python with surrogateescape).
	IDX        string `json:"idx"`
	When       string `json:"when"`
	Cat        string `json:"cat"`
	Outcome    string `json:"outcome"`
	N          *int   `json:"n"`
	ExitStatus *int   `json:"exitstatus"`
}

// pytestCategories maps the categories of pytest_report_teststatus to statuses. A passing
// setup or teardown has the empty category and says nothing.
var pytestCategories = map[string]pipeline.TestStatus{
	"passed":  pipeline.TestPassed,
	"failed":  pipeline.TestFailed,
	"error":   pipeline.TestError,
	"skipped": pipeline.TestSkipped,
	"xfailed": pipeline.TestXFail,
	"xpassed": pipeline.TestXPass,
}

// pytest's exit statuses.
const (
	pytestInterrupted   = 2
	pytestInternalError = 3
	pytestUsageError    = 4
)

// readPytestRecords reads the plugin's records. A test reported in several phases keeps its
// worst status, as in the terminal summary (a test that passed and then errored at
// teardown is an error). The results are incomplete when the session started and never
// finished (pytest killed or crashed mid-run), was interrupted or broke internally, when
// fewer tests started than were collected (a test that stopped the session), or when the
// stream ends in a cut line. A module that cannot be collected is a suite error, and so is
// a pytest that stopped before its session began (a conftest that cannot be imported, a
// usage error).
func readPytestRecords(r io.Reader) (Result, error) {
	var b builder
	var (
		loaded, started, finished bool
		exitStatus                int
		collected                 = -1
		setups, reports           int
		collectErrors             int
	)
	whole, err := eachLine(r, func(line []byte) {
		var rec pytestRecord
		if json.Unmarshal(line, &rec) != nil {
			return
		}
		if rec.IDX != "" {
			if raw, err := hex.DecodeString(rec.IDX); err == nil {
				rec.ID = string(raw)
			}
		}
		switch rec.E {
		case "loaded":
			loaded = true
		case "start":
			started = true
			b.r.Parsed = true
		case "collect_error":
			collectErrors++
			b.suiteError("collecting " + rec.ID + " failed")
		case "collected":
			if rec.N != nil {
				collected = max(collected, 0) + *rec.N
			}
		case "report":
			reports++
			b.r.Parsed = true
			if rec.When == "setup" {
				setups++
			}
			status, ok := pytestCategories[rec.Cat]
			if !ok && rec.Cat != "" {
				// A category of another plugin: go by the outcome.
				switch {
				case rec.Outcome == "failed" && rec.When == "call":
					status, ok = pipeline.TestFailed, true
				case rec.Outcome == "failed":
					status, ok = pipeline.TestError, true
				case rec.Outcome == "passed" && rec.When == "call":
					status, ok = pipeline.TestPassed, true
				case rec.Outcome == "skipped":
					status, ok = pipeline.TestSkipped, true
				}
			}
			if ok {
				b.set(rec.ID, status)
			}
		case "finish":
			finished = true
			if rec.ExitStatus != nil {
				exitStatus = *rec.ExitStatus
			}
		}
	})
	if err != nil {
		return b.result(), err
	}
	switch {
	case !whole:
		b.incomplete("the pytest records end in a cut line (pytest was killed while writing)")
	case loaded && !started:
		b.suiteError("pytest stopped before its session started (a conftest that cannot be imported, or a usage error)")
	case started && !finished:
		b.incomplete("pytest's session never finished: it was killed or crashed after %d reports", reports)
	case exitStatus == pytestInterrupted && collectErrors == 0:
		b.incomplete("pytest's session was interrupted after %d tests started", setups)
	case exitStatus == pytestInternalError:
		b.incomplete("pytest stopped with an internal error after %d tests started", setups)
	case exitStatus == pytestUsageError:
		b.suiteError("pytest reported a usage error")
	case collectErrors == 0 && collected > setups:
		b.incomplete("pytest collected %d tests and started %d (a test stopped the session)", collected, setups)
	}
	return b.result(), nil
}
