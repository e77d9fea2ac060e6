package httpretry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rebound-go/rebound/job"
)

// Classify is the Transport's classifier, exported for operations written by
// hand (job.Do, scheduler.Submit): given a request and what sending it gave,
// a response or an error, it returns nil for a success, or the error that
// tells the job what to do next: a job.Permanent error (final), a
// job.RetryAfter error (retry, not before the server's hint), or a plain
// error (retry after the policy's backoff).
//
// Responses:
//
//   - 1xx, 2xx and 3xx: success (nil).
//   - 429 Too Many Requests: retried, whatever the method; its Retry-After
//     is the hint; a throttle (job.Throttled).
//   - 408, 500, 502, 503 and 504: retried when the request is idempotent
//     (see below), with the response's Retry-After as the hint when it has
//     one; final otherwise.
//   - Every other 4xx and 5xx (401, 404, 501, 505, ...): final.
//
// A retried response without Retry-After takes "RateLimit-Remaining: 0"
// with RateLimit-Reset (or the X-RateLimit- pair) as its hint instead (see
// RateLimitPause); a final 429 or 503 keeps its hint too, so that a
// scheduler pauses the key by it. A 503 with a hint is a throttle as well.
// The error of a response is a *StatusError.
//
// Errors (the response is then ignored):
//
//   - final: TLS certificate errors, a request URL without a host or with a
//     scheme other than http and https, http.Client's "stopped after 10
//     redirects", and the cancellation of the request's own context;
//   - retried: any other error of an idempotent request, and a dial error
//     (the connection was never made, so the request was not sent) whatever
//     the method;
//   - final: any other error of a request that is not idempotent.
//
// An error returned as is keeps its chain: errors.Is and errors.As reach the
// net error. A context.DeadlineExceeded is an ordinary error here: an
// attempt's own timeout (job.AttemptTimeout) is retried, while a job whose
// own deadline has passed ends by the job's rules.
//
// Idempotent requests: GET, HEAD, OPTIONS, TRACE, PUT and DELETE, and any
// request with an Idempotency-Key (or X-Idempotency-Key) header, as net/http
// counts them. POST and PATCH without one are retried only after a 429 or a
// dial error: the server may have acted on them.
//
// Classify reads the clock only to turn an HTTP-date hint into a wait. It
// panics if req is nil, or if resp and err are both nil.
func Classify(req *http.Request, resp *http.Response, err error) error {
	if req == nil {
		panic("httpretry: Classify with a nil request")
	}
	if resp == nil && err == nil {
		panic("httpretry: Classify with neither a response nor an error")
	}
	if err != nil {
		if judgeErr(req, err, false) == retry {
			return err
		}
		return job.Permanent(err)
	}
	v := judgeStatus(req, resp.StatusCode, false)
	if v == success {
		return nil
	}
	return statusErr(req, resp, v, hintOf(resp, v, time.Now()))
}

// hintOf returns the hint of a response judged v: its Retry-After (or
// rate-limit reset) when it is retried or says 429 or 503; -1 otherwise.
func hintOf(resp *http.Response, v verdict, now time.Time) time.Duration {
	if v != retry && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return -1
	}
	return hint(resp.Header, now)
}

// statusErr returns the error of a response judged v (final or retry) with
// hint h (-1: none). A hint goes with a final error too: the scheduler
// pauses the key by it even as the job ends. 429, and 503 with a hint, are
// throttles (job.Throttled), for adaptive key rates.
func statusErr(req *http.Request, resp *http.Response, v verdict, h time.Duration) error {
	var err error = newStatusError(req, resp)
	if h >= 0 {
		err = job.RetryAfter(err, h)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable && h >= 0 {
		err = job.Throttled(err)
	}
	if v == final {
		err = job.Permanent(err)
	}
	return err
}

// StatusError is the error of a response that was not a success: Classify
// returns one, and a Transport gives one to its scheduler for each failed
// attempt (it is what the scheduler's log shows). A Transport itself never
// returns a StatusError to its caller: it returns the response. It is a
// plain value, safe to share once made; the zero value has no meaning.
type StatusError struct {
	Method     string // the request's method
	URL        string // the request's URL, without a password (url.URL.Redacted)
	StatusCode int    // 503
	Status     string // "503 Service Unavailable"
}

// Error formats as "httpretry: GET https://host/path: 503 Service Unavailable".
func (e *StatusError) Error() string {
	return "httpretry: " + e.Method + " " + e.URL + ": " + e.Status
}

func newStatusError(req *http.Request, resp *http.Response) *StatusError {
	se := &StatusError{Method: req.Method, StatusCode: resp.StatusCode, Status: resp.Status}
	if se.Method == "" {
		se.Method = http.MethodGet
	}
	if req.URL != nil {
		se.URL = req.URL.Redacted()
	}
	if se.Status == "" {
		se.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	return se
}

// verdict is what an attempt's result means for the job.
type verdict uint8

const (
	success verdict = iota
	final           // no retry: the response or the error is the answer
	retry
)

// judgeStatus judges a response by its status. retryAll:
// WithRetryNonIdempotent.
func judgeStatus(req *http.Request, code int, retryAll bool) verdict {
	switch code {
	case http.StatusTooManyRequests:
		return retry
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if retryAll || idempotent(req) {
			return retry
		}
		return final
	}
	if code < 400 {
		return success
	}
	return final
}

// judgeErr judges an error of sending req.
func judgeErr(req *http.Request, err error, retryAll bool) verdict {
	if finalErr(req, err) {
		return final
	}
	if retryAll || idempotent(req) || unsent(err) {
		return retry
	}
	return final
}

// finalErr reports whether err cannot get better by sending req again.
func finalErr(req *http.Request, err error) bool {
	u := req.URL
	if u == nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return true // a bad URL or an unsupported scheme
	}
	if errors.Is(err, context.Canceled) && req.Context().Err() == context.Canceled {
		return true // the caller gave up
	}
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	// http.Client's redirect limit: an error without a type of its own.
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		msg := ue.Err.Error()
		if strings.HasPrefix(msg, "stopped after ") && strings.HasSuffix(msg, " redirects") {
			return true
		}
	}
	return false
}

// unsent reports whether err proves that the request was never sent: the
// connection could not be made.
func unsent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// idempotent reports whether req may be sent twice without harm, as net/http
// counts it.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}
