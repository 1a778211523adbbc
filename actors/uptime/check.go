package uptime

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"time"
)

// Result is one check of one route.
type Result struct {
	Status     string
	Latency    time.Duration // to the first response byte (HTTP) or the connection (TCP)
	Reason     string        // why it was not healthy
	CertExpiry time.Time     // HTTPS: the leaf certificate's NotAfter
	At         time.Time
}

// MaxRedirects a check follows.
const MaxRedirects = 5

// maxBody is how much of a response is searched for expect_body.
const maxBody = 1 << 20

// Checker runs one check of a route within its timeout. It must be safe for
// concurrent use. NetChecker is the real one; tests give the monitor one
// that answers on fake time.
type Checker interface {
	Check(ctx context.Context, r Route) Result
}

// NetChecker checks HTTP(S) and TCP routes over the network. Its HTTP clients
// keep connections alive between checks of the same host. It is safe for
// concurrent use.
type NetChecker struct {
	verify, insecure *http.Client
	dialer           net.Dialer
}

// NewChecker returns a network checker with its own connection pools.
func NewChecker() *NetChecker {
	mk := func(skip bool) *http.Client {
		tr := &http.Transport{
			Proxy:       nil, // a health check goes straight to the route
			DialContext: (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			// Many routes often sit behind one reverse proxy: keep enough
			// idle connections per host for every concurrent check.
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			DisableCompression:  true,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: skip}, //nolint:gosec // the route asked for it
		}
		return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			return nil
		}}
	}
	return &NetChecker{verify: mk(false), insecure: mk(true)}
}

// Close drops idle connections.
func (c *NetChecker) Close() {
	c.verify.CloseIdleConnections()
	c.insecure.CloseIdleConnections()
}

// Check runs one check of r within its timeout.
func (c *NetChecker) Check(ctx context.Context, r Route) Result {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.Timeout))
	defer cancel()
	start := time.Now()
	if r.scheme == "tcp" {
		conn, err := c.dialer.DialContext(ctx, "tcp", r.address)
		res := Result{At: start, Latency: time.Since(start)}
		if err != nil {
			res.Status, res.Reason = classify(err), err.Error()
			return res
		}
		_ = conn.Close()
		res.Status = Healthy
		return res
	}
	client := c.verify
	if r.TLSSkipVerify {
		client = c.insecure
	}
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, r.URL, nil)
	if err != nil {
		return Result{At: start, Status: Error, Reason: err.Error()}
	}
	req.Header.Set("User-Agent", "ringwatch-uptime")
	resp, err := client.Do(req)
	res := Result{At: start}
	if err != nil {
		res.Latency = time.Since(start)
		res.Status, res.Reason = classify(err), err.Error()
		return res
	}
	defer resp.Body.Close()
	res.Latency = first.Sub(start)
	if first.IsZero() {
		res.Latency = time.Since(start)
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		res.CertExpiry = resp.TLS.PeerCertificates[0].NotAfter
	}
	if !r.statusOK(resp.StatusCode) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)) // keep the connection reusable
		res.Status, res.Reason = Unhealthy, fmt.Sprintf("status %d, want %s", resp.StatusCode, expectText(r))
		return res
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		res.Status, res.Reason = classify(err), "reading the body: "+err.Error()
		return res
	}
	if r.ExpectBody != "" && !bytes.Contains(body, []byte(r.ExpectBody)) {
		res.Status, res.Reason = Unhealthy, fmt.Sprintf("body does not contain %q", r.ExpectBody)
		return res
	}
	res.Status = Healthy
	return res
}

func expectText(r Route) string {
	if r.ExpectStatus == "" {
		return "200-399"
	}
	return r.ExpectStatus
}

// classify tells a check that ran and failed (unhealthy: refused, reset,
// timed out) from one that could not run (error: the name does not resolve,
// TLS cannot be established with this configuration).
func classify(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *x509.CertificateInvalidError
	var tlsErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	if errors.As(err, &dnsErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) ||
		errors.As(err, &certErr) || errors.As(err, &tlsErr) || errors.As(err, &recErr) {
		return Error
	}
	return Unhealthy // refused, reset, timed out, cut short
}

var _ Checker = (*NetChecker)(nil)
