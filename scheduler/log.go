package scheduler

import (
	"context"
	"log/slog"
	"time"
)

// logRetry logs a retry at Debug. It logs the key, attempt, wait and the
// redacted error text; never the operation's arguments or values.
func (s *Scheduler) logRetry(t *task, wait time.Duration) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelDebug, "rebound: retry",
		slog.String("key", s.cfg.redact(t.run.Key())),
		slog.Int("attempt", t.run.Attempts()),
		slog.Duration("wait", wait),
		slog.String("error", s.errText(t.run.Last())))
}

// logGiveUp logs a give-up at Warn.
func (s *Scheduler) logGiveUp(t *task, final error) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	l.LogAttrs(context.Background(), slog.LevelWarn, "rebound: gave up",
		slog.String("key", s.cfg.redact(t.run.Key())),
		slog.Int("attempt", t.run.Attempts()),
		slog.String("error", s.errText(final)))
}

func (s *Scheduler) errText(err error) string {
	if err == nil {
		return ""
	}
	return s.cfg.redact(err.Error())
}
