package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"
	"riverqueue.com/riverui"
	"riverqueue.com/riverui/uiendpoints"

	"swemill/runstore"
)

// uiOptions are the flags of `swemill ui`.
type uiOptions struct {
	addr string
	// images asks the Docker engine for image disk use on every report.
	images bool
}

func newUICmd(a *app) *cobra.Command {
	var o uiOptions
	cmd := &cobra.Command{
		Use:     "ui",
		Short:   "Serve the live report and River's web UI on localhost, to watch a long run",
		GroupID: groupLook,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdUI(cmd.Context(), a, o)
		},
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to serve on (localhost by default; port 0 picks one)")
	cmd.Flags().BoolVar(&o.images, "images", false, "ask the Docker engine for image disk use on every report")
	return cmd
}

func cmdUI(ctx context.Context, a *app, o uiOptions) error {
	cfg, log, err := a.setup()
	if err != nil {
		return err
	}
	store, err := a.openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	endpoints, err := riverUIEndpoints(store)
	if err != nil {
		return err
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: endpoints,
		Logger:    slog.New(slog.DiscardHandler),
		Prefix:    "/riverui",
	})
	if err != nil {
		return fmt.Errorf("setting up River's UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return fmt.Errorf("starting River's UI: %w", err)
	}
	env := wiringEnv{cfg: cfg, getenv: a.getenv, log: log}
	mux := http.NewServeMux()
	mux.Handle("/riverui/", ui)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		st, err := store.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = writeJSON(w, st)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page, err := renderReport(r.Context(), store, env, "swemill run "+store.Dir()+" (live)", o.images)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Refresh", "10")
		_, _ = w.Write(page)
	})
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.stdout, "serving the live report on http://%s/ and River's UI on http://%s/riverui/ (Ctrl-C stops)\n", ln.Addr(), ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// riverUIEndpoints are the API endpoints of River's web UI over the store's database.
func riverUIEndpoints(store *runstore.Store) (uiendpoints.Bundle, error) {
	switch c := store.RiverClient().(type) {
	case *river.Client[*sql.Tx]:
		return riverui.NewEndpoints(c, nil), nil
	case *river.Client[pgx.Tx]:
		return riverui.NewEndpoints(c, nil), nil
	default:
		return nil, fmt.Errorf("River's UI does not know the store's River client (%T)", c)
	}
}
