package auth

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Provider endpoints, the label of the provider call metrics.
const (
	endpointDiscovery = "discovery"
	endpointJWKS      = "jwks"
	endpointToken     = "token"
	endpointUserinfo  = "userinfo"
	endpointOther     = "other"
)

type endpointKey struct{}

// withEndpoint names the provider endpoint that the calls made with ctx go
// to, for the metrics.
func withEndpoint(ctx context.Context, endpoint string) context.Context {
	return context.WithValue(ctx, endpointKey{}, endpoint)
}

// providerMetrics time every call to the provider, by endpoint and outcome
// (the status class, or "error" for a call that got no answer).
type providerMetrics struct {
	duration *prometheus.HistogramVec
}

func newProviderMetrics(reg prometheus.Registerer) *providerMetrics {
	m := &providerMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "loginapp", Name: "provider_request_duration_seconds",
		Help:    "Calls to the OpenID Provider by endpoint (discovery, jwks, token, userinfo) and outcome (2xx, 4xx, 5xx, error).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint", "outcome"})}
	if reg != nil {
		reg.MustRegister(m.duration)
	}
	return m
}

// instrument returns a copy of client whose calls are timed, or client
// itself when nothing serves the metrics.
func (m *providerMetrics) instrument(client *http.Client, on bool) *http.Client {
	if !on {
		return client
	}
	c := *client
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = timedTransport{next: next, m: m}
	return &c
}

type timedTransport struct {
	next http.RoundTripper
	m    *providerMetrics
}

func (t timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint, _ := req.Context().Value(endpointKey{}).(string)
	if endpoint == "" {
		endpoint = endpointOther
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	outcome := "error"
	if err == nil {
		outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	t.m.duration.WithLabelValues(endpoint, outcome).Observe(time.Since(start).Seconds())
	return resp, err
}
