package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Corpus is bench/fidelity/corpus.json: real fix commits with the test outcomes a reference
// run observed. It holds facts only; patches come from the mirrors at measurement time.
type Corpus struct {
	Version int    `json:"version"`
	Cases   []Case `json:"cases"`
}

// Case is one fix commit of the corpus and the labels the reference computed for it.
type Case struct {
	InstanceID string `json:"instance_id"`
	Repo       string `json:"repo"`
	// Language is "python", "go", "javascript", "rust" or "java"; it picks the run the case
	// goes to.
	Language   string `json:"language"`
	FixCommit  string `json:"fix_commit"`
	BaseCommit string `json:"base_commit"`
	// TestPaths are the changed files that make test_patch; every other changed file makes
	// patch.
	TestPaths  []string `json:"test_paths"`
	FailToPass []string `json:"fail_to_pass"`
	PassToPass []string `json:"pass_to_pass"`
	// PassToPassCount is len(PassToPass), given on its own so a corpus may leave the list out.
	PassToPassCount int    `json:"pass_to_pass_count"`
	Notes           string `json:"notes,omitempty"`
}

// Languages are the corpus's languages, in the order their runs go.
var languages = []string{"python", "go", "javascript", "rust", "java"}

var hexCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// loadCorpus reads and checks a corpus file.
func loadCorpus(path string) (*Corpus, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading corpus: %w", err)
	}
	var c Corpus
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decoding corpus %s: %w", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("checking corpus %s: %w", path, err)
	}
	return &c, nil
}

// check reports the first thing that makes the corpus unusable.
func (c *Corpus) check() error {
	if c.Version != 1 {
		return fmt.Errorf("version %d is not 1", c.Version)
	}
	if len(c.Cases) == 0 {
		return errors.New("no cases")
	}
	seen := map[string]bool{}
	for i, k := range c.Cases {
		at := fmt.Sprintf("cases[%d] (%s)", i, k.InstanceID)
		owner, name, ok := strings.Cut(k.Repo, "/")
		switch {
		case k.InstanceID == "":
			return fmt.Errorf("cases[%d]: instance_id is empty", i)
		case seen[k.InstanceID]:
			return fmt.Errorf("%s: instance_id is given twice", at)
		case !ok || owner == "" || name == "" || strings.Contains(name, "/"):
			return fmt.Errorf("%s: repo %q is not owner/name", at, k.Repo)
		case !slices.Contains(languages, k.Language):
			return fmt.Errorf("%s: language %q is not one of %s", at, k.Language, strings.Join(languages, ", "))
		case !hexCommit.MatchString(k.FixCommit) || !hexCommit.MatchString(k.BaseCommit):
			return fmt.Errorf("%s: fix_commit and base_commit must be 40 lowercase hex digits", at)
		case len(k.TestPaths) == 0:
			return fmt.Errorf("%s: test_paths is empty", at)
		case len(k.PassToPass) > 0 && len(k.PassToPass) != k.PassToPassCount:
			return fmt.Errorf("%s: pass_to_pass_count %d but pass_to_pass has %d ids", at, k.PassToPassCount, len(k.PassToPass))
		}
		seen[k.InstanceID] = true
	}
	return nil
}

// selectCases returns the cases named in ids, in corpus order; no ids means all of them.
func (c *Corpus) selectCases(ids []string) ([]Case, error) {
	if len(ids) == 0 {
		return c.Cases, nil
	}
	var out []Case
	for _, k := range c.Cases {
		if slices.Contains(ids, k.InstanceID) {
			out = append(out, k)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(out, func(k Case) bool { return k.InstanceID == id }) {
			return nil, fmt.Errorf("selecting cases: %s is not in the corpus", id)
		}
	}
	return out, nil
}
