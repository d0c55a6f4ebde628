package browsertest

// TestMain builds the server binary once and starts one headless Chromium
// for the whole package; every test gets its own server process and its own
// browser context (cookies, cache) in that browser.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

var (
	// serverBin is the server binary that TestMain built.
	serverBin string
	// browserCtx is the chromedp context of the one browser; nil with
	// browserErr set when there is no browser.
	browserCtx context.Context
	browserErr error
	// artifactsDir receives the screenshots.
	artifactsDir string
	// moduleRoot is the directory of go.mod.
	moduleRoot string
)

var updateDocs = flag.Bool("docs", false, "copy the README screenshots from this run to docs/screenshots")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(root)) == "" {
		fmt.Fprintln(os.Stderr, "browsertest: find the module root:", err)
		return 1
	}
	moduleRoot = filepath.Dir(strings.TrimSpace(string(root)))

	serverBin = filepath.Join(tmp, "server")
	build := exec.Command("go", "build", "-o", serverBin, "./cmd/server")
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "browsertest: go build ./cmd/server: %v\n%s", err, out)
		return 1
	}

	artifactsDir = os.Getenv("ARTIFACTS_DIR")
	if artifactsDir == "" {
		// Kept after the run, so that the screenshots can be looked at.
		if artifactsDir, err = os.MkdirTemp("", "browsertest-artifacts-"); err != nil {
			fmt.Fprintln(os.Stderr, "browsertest:", err)
			return 1
		}
	} else if artifactsDir, err = filepath.Abs(artifactsDir); err == nil {
		err = os.MkdirAll(artifactsDir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest: artifacts dir:", err)
		return 1
	}

	chromium, err := findChromium()
	if err != nil {
		browserErr = err
		return m.Run()
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(filepath.Join(tmp, "chromium-profile")),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		browserErr = fmt.Errorf("start %s: %w", chromium, err)
	} else {
		browserCtx = ctx
	}

	code := m.Run()
	if code == 0 && *updateDocs {
		if err := copyDocScreenshots(); err != nil {
			fmt.Fprintln(os.Stderr, "browsertest: -docs:", err)
			code = 1
		}
	}
	fmt.Fprintln(os.Stderr, "browsertest: screenshots in", artifactsDir)
	return code
}

// findChromium finds Debian's chromium; it never downloads a browser.
func findChromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium found; install it with: sudo apt-get install -y chromium")
}

// needBrowser skips the test when there is no browser, but fails it under
// CI=true: CI must never pass by skipping the browser tests.
func needBrowser(t *testing.T) {
	t.Helper()
	if browserErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need Chromium under CI=true: %v", browserErr)
	}
	t.Skipf("skipping browser test: %v", browserErr)
}
