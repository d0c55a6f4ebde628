package browsertest

import (
	"fmt"
	"os"
	"path/filepath"
)

// docScreenshots are the screenshots that the README shows: the artifact of
// this package's run on the left, its name under docs/screenshots on the
// right.
var docScreenshots = map[string]string{
	"TestLogInShowDetailsLogOut-01-index-desktop-light.png":                   "login-desktop-light.png",
	"TestLogInShowDetailsLogOut-03-profile-desktop-light.png":                 "profile-desktop-light.png",
	"TestLogInShowDetailsLogOut-05-details-open-desktop-dark.png":             "details-desktop-dark.png",
	"TestLogInShowDetailsLogOut-05-details-open-mobile-light.png":             "details-mobile-light.png",
	"TestTwoTabsLogInAtOnce-01-profile-maria-mobile-dark.png":                 "profile-initials-mobile-dark.png",
	"TestErrorPages-02-error-bad-callback-desktop-light.png":                  "error-desktop-light.png",
	"TestLogInShowDetailsLogOut-02-provider-login-desktop-dark.png":           "dev-provider-desktop-dark.png",
	"TestSessionsAcrossBrowsers-A-01-sessions-open-desktop-light.png":         "sessions-desktop-light.png",
	"TestSessionsAcrossBrowsers-A-03-sessions-after-sign-out-mobile-dark.png": "sessions-signed-out-mobile-dark.png",
	"TestEditProfile-01-edit-profile-desktop-dark.png":                        "edit-profile-desktop-dark.png",
	"TestEditProfile-02-edit-profile-error-mobile-light.png":                  "edit-profile-error-mobile-light.png",
}

// copyDocScreenshots copies the README's screenshots from this run's
// artifacts to docs/screenshots:
//
//	go test ./internal/browsertest -args -docs
func copyDocScreenshots() error {
	dir := filepath.Join(moduleRoot, "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for from, to := range docScreenshots {
		b, err := os.ReadFile(filepath.Join(artifactsDir, from))
		if err != nil {
			return fmt.Errorf("run the whole package for the screenshots: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
