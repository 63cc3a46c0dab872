// Package repotest builds small git repositories from txtar descriptions, with the same commit
// hashes on every machine, so fixtures (GitHub JSON, expected base commits) can name them.
//
// A description is a txtar archive. A file named "commit: LABEL" starts a commit; its content
// holds header lines ("message: ...", "parent: LABEL", "parents: A B", "branch: NAME",
// "date: 2024-01-02T03:04:05Z", "author: Name <mail>"). The files after it, up to the next
// commit marker, are written into the tree before committing; a file named "delete: PATH"
// removes PATH. A commit starts from its parent's tree; a merge starts from its last parent's
// (the pull request's head, when the base branch has not moved), or from "tree: LABEL". The default parent is the
// previous commit; the default branch is "main". Text before the first marker is a comment.
package repotest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"swemill/gitexec"
)

// Repo is a materialised repository.
type Repo struct {
	// Dir is the work tree (a non-bare repository).
	Dir string
	// Commits maps each commit label to its hash.
	Commits map[string]string
	// Order lists the labels in the order they were committed.
	Order []string
}

// BuildFile materialises the description in file into dir (created; must not exist or be
// empty).
func BuildFile(dir, file string) (*Repo, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading repository description: %w", err)
	}
	r, err := Build(dir, data)
	if err != nil {
		return nil, fmt.Errorf("building repository from %s: %w", file, err)
	}
	return r, nil
}

type commitSpec struct {
	label   string
	message string
	parents []string
	branch  string
	date    string
	author  string
	tree    string
	files   []txtar.File
}

// Build materialises a txtar description into dir.
func Build(dir string, description []byte) (*Repo, error) {
	specs, err := parse(description)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := gitRunner{dir: dir}
	if _, err := g.run(nil, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	r := &Repo{Dir: dir, Commits: map[string]string{}}
	branches := map[string]string{}
	prev := ""
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range specs {
		if _, dup := r.Commits[c.label]; dup {
			return nil, fmt.Errorf("commit label %q used twice", c.label)
		}
		parents := c.parents
		if parents == nil && prev != "" {
			parents = []string{prev}
		}
		var parentHashes []string
		for _, p := range parents {
			h, ok := r.Commits[p]
			if !ok {
				return nil, fmt.Errorf("commit %q: unknown parent %q", c.label, p)
			}
			parentHashes = append(parentHashes, h)
		}
		// Start from the last parent's tree, the named one, or an empty one.
		start := ""
		if len(parentHashes) > 0 {
			start = parentHashes[len(parentHashes)-1]
		}
		if c.tree != "" {
			h, ok := r.Commits[c.tree]
			if !ok {
				return nil, fmt.Errorf("commit %q: unknown tree %q", c.label, c.tree)
			}
			start = h
		}
		if _, err := g.run(nil, "read-tree", "--empty"); err != nil {
			return nil, err
		}
		if start != "" {
			if _, err := g.run(nil, "read-tree", start); err != nil {
				return nil, err
			}
		}
		if _, err := g.run(nil, "clean", "-qfdx"); err != nil {
			return nil, err
		}
		if _, err := g.run(nil, "checkout-index", "-a", "-f"); err != nil {
			return nil, err
		}
		for _, f := range c.files {
			if p, ok := strings.CutPrefix(f.Name, "delete: "); ok {
				if _, err := g.run(nil, "rm", "-q", "-r", "--cached", "--", p); err != nil {
					return nil, fmt.Errorf("commit %q: %w", c.label, err)
				}
				continue
			}
			path := filepath.Join(dir, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			mode := os.FileMode(0o644)
			if strings.HasSuffix(f.Name, ".sh") {
				mode = 0o755
			}
			if err := os.WriteFile(path, f.Data, mode); err != nil {
				return nil, err
			}
			if _, err := g.run(nil, "add", "--", f.Name); err != nil {
				return nil, err
			}
		}
		tree, err := g.run(nil, "write-tree")
		if err != nil {
			return nil, err
		}
		date := c.date
		if date == "" {
			date = base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		}
		author := c.author
		if author == "" {
			author = "Fixture Author <author@example.com>"
		}
		name, mail := splitAuthor(author)
		args := []string{"commit-tree", tree}
		for _, h := range parentHashes {
			args = append(args, "-p", h)
		}
		env := []string{
			"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + mail, "GIT_AUTHOR_DATE=" + date,
			"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + mail, "GIT_COMMITTER_DATE=" + date,
		}
		hash, err := g.runInput(env, c.message+"\n", args...)
		if err != nil {
			return nil, fmt.Errorf("commit %q: %w", c.label, err)
		}
		r.Commits[c.label] = hash
		r.Order = append(r.Order, c.label)
		branch := c.branch
		if branch == "" {
			branch = "main"
		}
		branches[branch] = hash
		prev = c.label
	}
	names := make([]string, 0, len(branches))
	for b := range branches {
		names = append(names, b)
	}
	sort.Strings(names)
	for _, b := range names {
		if _, err := g.run(nil, "update-ref", "refs/heads/"+b, branches[b]); err != nil {
			return nil, err
		}
	}
	if head, ok := branches["main"]; ok {
		if _, err := g.run(nil, "reset", "-q", "--hard", head); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func parse(description []byte) ([]commitSpec, error) {
	a := txtar.Parse(description)
	var specs []commitSpec
	for _, f := range a.Files {
		if label, ok := strings.CutPrefix(f.Name, "commit: "); ok {
			c := commitSpec{label: strings.TrimSpace(label), message: "commit " + label}
			sc := bufio.NewScanner(bytes.NewReader(f.Data))
			for sc.Scan() {
				line := sc.Text()
				if strings.TrimSpace(line) == "" {
					continue
				}
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					return nil, fmt.Errorf("commit %q: header line %q is not key: value", label, line)
				}
				v = strings.TrimSpace(v)
				switch strings.TrimSpace(k) {
				case "message":
					c.message = strings.ReplaceAll(v, `\n`, "\n")
				case "parent":
					c.parents = []string{v}
				case "parents":
					c.parents = strings.Fields(v)
				case "branch":
					c.branch = v
				case "date":
					c.date = v
				case "author":
					c.author = v
				case "tree":
					c.tree = v
				default:
					return nil, fmt.Errorf("commit %q: unknown header %q", label, k)
				}
			}
			specs = append(specs, c)
			continue
		}
		if len(specs) == 0 {
			return nil, fmt.Errorf("file %q comes before the first commit marker", f.Name)
		}
		specs[len(specs)-1].files = append(specs[len(specs)-1].files, f)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("no commits in description")
	}
	return specs, nil
}

func splitAuthor(s string) (name, mail string) {
	name, rest, ok := strings.Cut(s, "<")
	if !ok {
		return strings.TrimSpace(s), "author@example.com"
	}
	return strings.TrimSpace(name), strings.TrimSuffix(strings.TrimSpace(rest), ">")
}

type gitRunner struct{ dir string }

func (g gitRunner) run(env []string, args ...string) (string, error) {
	return g.runInput(env, "", args...)
}

func (g gitRunner) runInput(env []string, input string, args ...string) (string, error) {
	out, err := gitexec.RunWith(context.Background(), g.dir, gitexec.Options{Env: env, Stdin: input}, args...)
	return strings.TrimSpace(out), err
}
