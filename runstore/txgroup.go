package runstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/sourcegraph/conc/panics"
)

// SQLite has one writer and swemill one connection to it, so write transactions run one after
// the other anyway, and on a busy run most of the connection's time went to committing them
// one by one (each commit appends its pages to the WAL). txGroup commits them in groups: the
// transactions that queue up while one group runs make the next group, each inside its own
// savepoint of one database transaction. A transaction whose function fails is rolled back
// to its savepoint, as if it had run alone; the others commit together, and none of their
// callers returns before that commit. Running them one after the other in one transaction
// gives each the same view as running it alone after the ones before it.
//
// There is no goroutine of its own: the first caller to find no group running leads, runs
// the queue as one group, and hands the lead to the first caller queued meanwhile.

// maxGroup bounds the transactions committed together.
const maxGroup = 64

type txGroup[TD riverdriver.Driver[TTx], TTx any] struct {
	e *engine[TD, TTx]

	mu      sync.Mutex
	queue   []*txRequest[TTx]
	running bool // a leader is running groups
}

// txRequest is one caller's transaction.
type txRequest[TTx any] struct {
	ctx    context.Context
	client *river.Client[TTx]
	fn     func(tx txn) error
	err    error
	// lead is set, before done is closed, when the caller is to lead the next group instead
	// of returning err.
	lead bool
	done chan struct{}
}

// run runs fn in a transaction of the next group and returns once that group has committed
// (or fn's savepoint was rolled back).
func (g *txGroup[TD, TTx]) run(ctx context.Context, client *river.Client[TTx], fn func(tx txn) error) error {
	r := &txRequest[TTx]{ctx: ctx, client: client, fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.running {
		g.mu.Unlock()
		<-r.done
		if !r.lead {
			return r.err
		}
	} else {
		g.running = true
		g.mu.Unlock()
	}
	// This caller leads: run one group, which holds its own request, then pass the lead on.
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	g.runGroup(batch)
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		close(next.done)
	} else {
		g.running = false
	}
	g.mu.Unlock()
	for _, o := range batch {
		if o != r {
			close(o.done)
		}
	}
	return r.err
}

// groupSavepoint is the savepoint around each transaction of a group.
const groupSavepoint = "swemill_group"

// runGroup runs batch in one database transaction and sets each request's err.
func (g *txGroup[TD, TTx]) runGroup(batch []*txRequest[TTx]) {
	e := g.e
	// The group outlives any one caller's cancellation: a caller whose context is done
	// before its turn is skipped, and statements never run under a cancellable context,
	// since interrupting one would roll back the whole group (SQLite's sqlite3_interrupt).
	ctx := context.WithoutCancel(batch[0].ctx)
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
	tx, err := e.begin(ctx)
	if err != nil {
		fail(fmt.Errorf("beginning transaction: %w", err))
		return
	}
	q := detachedQuerier{e.wrap(tx)}
	abort := func(err error) {
		_ = e.rollback(ctx, tx)
		fail(err)
	}
	committed := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := q.exec(ctx, "SAVEPOINT "+groupSavepoint); err != nil {
			abort(fmt.Errorf("beginning transaction: %w", err))
			return
		}
		t := &engineTx[TD, TTx]{querier: q, tx: tx, client: r.client, detach: true, direct: true}
		var ferr error
		if rec := panics.Try(func() { ferr = r.fn(t) }); rec != nil {
			ferr = fmt.Errorf("transaction panicked: %w", rec.AsError())
		}
		if ferr != nil {
			r.err = ferr
			// When SQLite has rolled the whole transaction back (an I/O error, a full disk),
			// the savepoint is gone with it: the group fails, as its commit would have.
			if _, err := q.exec(ctx, "ROLLBACK TO "+groupSavepoint); err != nil {
				abort(errors.Join(ferr, fmt.Errorf("rolling back: %w", err)))
				return
			}
		}
		if _, err := q.exec(ctx, "RELEASE "+groupSavepoint); err != nil {
			abort(fmt.Errorf("releasing savepoint: %w", err))
			return
		}
		if ferr == nil {
			committed++
		}
	}
	if committed == 0 {
		if err := e.rollback(ctx, tx); err != nil {
			fail(fmt.Errorf("rolling back: %w", err))
		}
		return
	}
	if err := e.commit(ctx, tx); err != nil {
		abort(fmt.Errorf("committing transaction: %w", err))
	}
}

// detachedQuerier runs statements to completion whatever their context's cancellation (its
// values, deadlines aside, are kept).
type detachedQuerier struct{ q querier }

func (d detachedQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return d.q.exec(context.WithoutCancel(ctx), query, args...)
}

func (d detachedQuerier) query(ctx context.Context, query string, args ...any) (rowScanner, error) {
	return d.q.query(context.WithoutCancel(ctx), query, args...)
}

func (d detachedQuerier) queryRow(ctx context.Context, query string, args ...any) scanner {
	return d.q.queryRow(context.WithoutCancel(ctx), query, args...)
}
