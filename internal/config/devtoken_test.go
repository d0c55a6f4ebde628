package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDevTokenLifetime(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr string
	}{
		{"unset", nil, 0, ""},
		{"dev mode", map[string]string{"DEV_TOKEN_LIFETIME": "30s"}, 30 * time.Second, ""},
		{"shortest", map[string]string{"DEV_TOKEN_LIFETIME": "2s"}, 2 * time.Second, ""},
		{"too short", map[string]string{"DEV_TOKEN_LIFETIME": "1500ms"}, 0, "DEV_TOKEN_LIFETIME: "},
		{"not a duration", map[string]string{"DEV_TOKEN_LIFETIME": "ten"}, 0, "DEV_TOKEN_LIFETIME: "},
		{"with a real provider", map[string]string{"OIDC_ISSUER_URL": "https://login.example.com/", "OIDC_CLIENT_ID": "id", "OIDC_CLIENT_SECRET": "s", "SESSION_SECRET": secret, "DEV_TOKEN_LIFETIME": "30s"}, 0, "DEV_TOKEN_LIFETIME: only applies in dev mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(nil, env(tt.env), nil)
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a config error starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DevTokenLifetime != tt.want {
				t.Fatalf("DevTokenLifetime = %v, want %v", c.DevTokenLifetime, tt.want)
			}
		})
	}
}
