package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"swemill/envbuild/sandbox"
	"swemill/runstore"
)

// sweepPeriod is how often a worker looks for containers of the run's gone workers. It only
// decides when the look happens: whether a worker is gone is the run's record's answer.
const sweepPeriod = time.Minute

// sweepGone registers this process as worker of the run in store, for as long as it lives,
// and removes the containers of the run (sb's run label) whose worker is gone: a killed
// process's, on this Docker engine, whatever run directory it had. It sweeps once now, then
// every period, until stop is called; stop also ends the registration. Containers of live
// workers and of other runs are left alone.
func sweepGone(ctx context.Context, store *runstore.Store, worker string, sb *sandbox.Sandbox, period time.Duration, log zerolog.Logger) (stop func(), err error) {
	release, err := store.RegisterWorker(ctx, worker)
	if err != nil {
		return nil, err
	}
	sweep := func(ctx context.Context) (int, error) { return sb.SweepGone(ctx, store.WorkerGone) }
	if n, err := sweep(ctx); err != nil {
		release()
		return nil, fmt.Errorf("removing containers a killed process of the run left: %w", err)
	} else if n > 0 {
		log.Info().Int("containers", n).Msg("removed containers a killed process of the run left")
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
			}
			if n, err := sweep(loopCtx); err != nil && loopCtx.Err() == nil {
				log.Warn().Err(err).Msg("sweeping the containers of gone workers")
			} else if n > 0 {
				log.Info().Int("containers", n).Msg("removed containers a gone worker of the run left")
			}
		}
	}()
	return func() {
		cancel()
		<-done
		release()
	}, nil
}
