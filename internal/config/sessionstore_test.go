package config

import (
	"strings"
	"testing"
)

// TestSessionStoreSchemes: SESSION_STORE takes the four Redis forms of the
// contract and nothing else; what follows the scheme is the session
// package's to check (run reports it under the same setting).
func TestSessionStoreSchemes(t *testing.T) {
	tests := []struct {
		store string
		ok    bool
	}{
		{"", true},
		{"redis://127.0.0.1:6379/0", true},
		{"rediss://:pw@redis.example.com:6380/1", true},
		{"redis-sentinel://10.0.0.1:26379,10.0.0.2:26379/sessions?db=2", true},
		{"redis-cluster://10.0.0.1:7000,10.0.0.2:7000,[::1]:7002", true},
		{"memcached://x", false},
		{"redis+sentinel://10.0.0.1:26379/sessions", false},
		{"http://127.0.0.1:6379", false},
		{"redis-cluster://", false},
		{"redis:///0", false},
		{"127.0.0.1:6379", false},
	}
	for _, tt := range tests {
		_, err := Load(nil, env(map[string]string{"SESSION_STORE": tt.store}), nil)
		if tt.ok && err != nil {
			t.Errorf("SESSION_STORE=%q: %v, want it accepted", tt.store, err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "SESSION_STORE")) {
			t.Errorf("SESSION_STORE=%q: err = %v, want one naming SESSION_STORE", tt.store, err)
		}
	}
}
