// Command server is the login app: a hypermedia web app that signs people in
// with OpenID Connect. Without an issuer configured it runs in dev mode with a
// built-in OpenID Provider. See README.md for the settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// The tz database is in the binary: the profile's time zones are
	// checked on any machine, with or without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/loginapp/login/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	var ce *config.Error
	switch {
	case err == nil:
	case errors.Is(err, config.ErrHelp):
		config.Usage(os.Stdout)
	case errors.As(err, &ce):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
