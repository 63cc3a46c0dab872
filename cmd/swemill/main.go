// Command swemill mills merged GitHub pull requests into executable software-engineering
// training data: it mines tasks, builds their Docker images, validates their tests, rolls out
// agent trajectories on a served model and exports the result as a Hugging Face dataset.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signalContext(context.Background(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, wireStages)
	stop()
	os.Exit(code)
}

// errInterrupted is the cause of a context cancelled by SIGINT or SIGTERM.
type errInterrupted struct{ sig os.Signal }

func (e errInterrupted) Error() string { return fmt.Sprintf("interrupted by %v", e.sig) }

// signalContext returns a context cancelled, with errInterrupted as its cause, by the first
// SIGINT or SIGTERM: swemill stops taking work and hands back what is in flight. A second
// signal exits at once.
func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "swemill: %v: finishing or handing back the work in flight (again to quit at once)\n", s)
			cancel(errInterrupted{sig: s})
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "swemill: second signal: quitting now; the next run cleans up")
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
