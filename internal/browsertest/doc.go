// Package browsertest drives the real server binary with a real Chromium:
// the user's journeys (log in, details inline, log out, deep link, two
// tabs, an expired session, error pages), by mouse, by keyboard and without
// JavaScript, with no console errors, no Content-Security-Policy violations
// and no serious or critical axe-core violations on any page. Every step
// is saved as a screenshot, on a 360 px phone and a desktop, light and
// dark, into $ARTIFACTS_DIR (a temporary directory by default).
//
// The package has only tests. They need Debian's chromium (apt-get install
// chromium; $CHROMIUM names another binary); without it they skip, except
// under CI=true, where they fail. No browser is ever downloaded.
//
//	go test ./internal/browsertest                # the journeys
//	go test ./internal/browsertest -args -docs    # and refresh docs/screenshots
package browsertest
