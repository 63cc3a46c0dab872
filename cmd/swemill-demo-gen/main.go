// Command swemill-demo-gen writes the offline snapshot that `make demo` mills,
// testdata/demo, from its compact description: the repositories' histories
// (testdata/demo/OWNER/NAME/repo.txtar, repotest descriptions with stable hashes) and the
// pull requests, issues and expected outcomes in spec.go. It writes, for every repository,
// the API JSON of stages/mine's snapshot format (go-github v62 types, so the field names are
// GitHub's) naming the real commit hashes, repo.bundle, and, for the whole snapshot,
// expected.json and the generated section of README.md.
//
// Run it from the module root after editing a history or spec.go:
//
//	go run ./cmd/swemill-demo-gen
//
// Its test fails when the committed files differ from what it would write.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("swemill-demo-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "testdata/demo", "the snapshot directory: histories and README.md are read from it, everything else is written to it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "swemill-demo-gen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := Generate(ctx, *dir, *dir); err != nil {
		fmt.Fprintf(stderr, "swemill-demo-gen: %v\n", err)
		return 1
	}
	return 0
}
