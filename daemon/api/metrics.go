package api

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// observer records every RPC's latency by procedure and code, and logs one line per RPC:
// procedure, code, duration and user id, never a message body.
type observer struct {
	latency *prometheus.HistogramVec
	log     *slog.Logger
	errs    *errorMapper
}

func newObserver(reg prometheus.Registerer, log *slog.Logger, errs *errorMapper) (*observer, error) {
	o := &observer{log: log, errs: errs, latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fsa_rpc_duration_seconds",
		Help:    "Latency of fsa API calls by procedure and result code (streams: until they end).",
		Buckets: prometheus.DefBuckets,
	}, []string{"procedure", "code"})}
	if reg != nil {
		if err := reg.Register(o.latency); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// record observes one finished call. err is already a Connect error (or nil).
func (o *observer) record(ctx context.Context, procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	d := time.Since(start)
	o.latency.WithLabelValues(procedure, code).Observe(d.Seconds())
	attrs := []any{"procedure", procedure, "code", code, "duration", d}
	if c, cerr := callerFrom(ctx); cerr == nil && c.user != nil {
		attrs = append(attrs, "user", c.user.ID)
	}
	// Successful calls are debug noise; refused ones are worth a line; our own failures are errors.
	// (connect.CodeOf(nil) is CodeUnknown, so test err first.)
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelInfo
		if c := connect.CodeOf(err); c == connect.CodeInternal || c == connect.CodeUnknown {
			level = slog.LevelError
		}
	}
	o.log.Log(ctx, level, "rpc", attrs...)
}

// interceptor maps handler errors to Connect codes (errorMapper) and records the call.
func (o *observer) interceptor() connect.Interceptor { return (*observerInterceptor)(o) }

type observerInterceptor observer

func (i *observerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	o := (*observer)(i)
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		err = o.errs.toConnect(ctx, err)
		o.record(ctx, req.Spec().Procedure, start, err)
		return resp, err
	}
}

func (i *observerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *observerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	o := (*observer)(i)
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := o.errs.toConnect(ctx, next(ctx, conn))
		if errors.Is(err, context.Canceled) || connect.CodeOf(err) == connect.CodeCanceled {
			// The client went away: the normal end of a watch.
			o.record(ctx, conn.Spec().Procedure, start, nil)
			return err
		}
		o.record(ctx, conn.Spec().Procedure, start, err)
		return err
	}
}
