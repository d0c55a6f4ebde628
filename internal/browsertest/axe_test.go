package browsertest

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core from npm (npm pack axe-core), vendored as a test
// asset with its licence: the app never serves it.
//
//go:embed testdata/axe.min.js
var axeSource string

// axeViolation is the part of an axe result that a failure message needs.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeRun runs axe-core on the page (WCAG 2.x A and AA rules and axe's best
// practices) and returns the violations.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations.map((v) => ({
  id: v.id, impact: v.impact || "", help: v.help,
  nodes: v.nodes.map((n) => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " ")),
})))`

// audit injects axe-core into the page and returns its violations.
func (tb *tab) audit() []axeViolation {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	has, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		tb.t.Fatalf("axe: %v", err)
	}
	if !has {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			tb.t.Fatalf("inject axe-core: %v", err)
		}
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("run axe-core: %v", err)
	}
	return vs
}

// axe fails the test on every serious or critical axe violation, and logs
// the others.
func (tb *tab) axe(label string) {
	tb.t.Helper()
	for _, v := range tb.audit() {
		msg := fmt.Sprintf("axe %s on %s (%s): %s %s\n  %s", v.Impact, tb.path(), label, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Error(msg)
		} else {
			tb.t.Log(msg)
		}
	}
}
