package components

import (
	"html"
	"sync"

	"github.com/loginapp/login/assets"
)

// htmxConfig keeps htmx within a strict CSP (no inline indicator styles, no
// eval, no script tags from swapped content) and keeps user data out of its
// localStorage history cache.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0,"refreshOnHistoryMiss":true}`

// staticHead is the part of every page's <head> that never changes, built
// and escaped once instead of on every render.
var staticHead = sync.OnceValue(func() string {
	return `<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
		`<meta name="color-scheme" content="light dark">` +
		`<meta name="theme-color" content="#f5f6fb" media="(prefers-color-scheme: light)">` +
		`<meta name="theme-color" content="#0d1017" media="(prefers-color-scheme: dark)">` +
		`<meta name="htmx-config" content="` + html.EscapeString(htmxConfig) + `">` +
		`<link rel="icon" href="` + assets.Path("img/favicon.svg") + `" type="image/svg+xml">` +
		`<link rel="stylesheet" href="` + assets.Path("css/app.css") + `">` +
		`<script src="` + assets.Path("js/htmx.min.js") + `" defer></script>` +
		`<script src="` + assets.Path("js/app.js") + `" defer></script>`
})

// brandHTML is the brand mark, built once.
var brandHTML = sync.OnceValue(func() string {
	return `<div class="brand"><img class="brand-mark" src="` + assets.Path("img/logo.svg") + `" alt="" width="28" height="28"> Login</div>`
})
