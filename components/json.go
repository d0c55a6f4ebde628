package components

import (
	"embed"
	"html"
	"strconv"
	"strings"
	"sync"

	"github.com/alecthomas/chroma/v2"
)

// maxIndentClass is the deepest nesting with a CSS class of its own
// (.i0 ... .i12 in app.css); deeper lines share the last.
const maxIndentClass = 12

// lexerFiles holds chroma's own JSON lexer definition, copied from
// chroma v2.27.0's lexers/embedded/json.xml (MIT licence, Alec Thomas).
// Importing chroma's lexers package instead would parse all of its 250
// lexers at start-up: 16 ms and 2.8 MB of heap for the one we use.
//
//go:embed lexer/json.xml
var lexerFiles embed.FS

// jsonLexer is chroma's JSON lexer, loaded the first time JSON is shown;
// nil only if the definition did not load, and then the JSON is shown
// uncoloured.
var jsonLexer = sync.OnceValue(func() chroma.Lexer {
	l, err := chroma.NewXMLLexer(lexerFiles, "lexer/json.xml")
	if err != nil {
		return nil
	}
	return chroma.Coalesce(l)
})

// highlightJSON renders pretty-printed JSON (two-space indent) as HTML:
// chroma's tokens, each in a span with chroma's class for its type (keys
// nt, strings s2, numbers mi/mf, true/false/null kc, punctuation p), styled
// by app.css, never by inline styles, so the CSP stays strict. Each line is
// a block with a class for its depth, so that a long value that wraps on a
// phone continues under itself instead of at the left edge; the leading
// spaces stay in the text, so what is selected or copied is the JSON as it
// was. Every token is HTML-escaped here.
func highlightJSON(pretty string) string {
	var b strings.Builder
	b.Grow(len(pretty) * 2)
	var lines [][]chroma.Token
	if lexer := jsonLexer(); lexer != nil {
		if it, err := lexer.Tokenise(nil, pretty); err == nil {
			lines = chroma.SplitTokensIntoLines(it.Tokens())
		}
	}
	if lines == nil {
		for _, l := range strings.SplitAfter(pretty, "\n") {
			lines = append(lines, []chroma.Token{{Type: chroma.Text, Value: l}})
		}
	}
	for _, line := range lines {
		depth := 0
		if len(line) > 0 {
			depth = leadingSpaces(line[0].Value) / 2
		}
		b.WriteString(`<span class="ln i`)
		b.WriteString(strconv.Itoa(min(depth, maxIndentClass)))
		b.WriteString(`">`)
		for _, tok := range line {
			class := chroma.StandardTypes[tok.Type]
			if class == "" || tok.Type == chroma.Text || tok.Type == chroma.TextWhitespace {
				b.WriteString(html.EscapeString(tok.Value))
				continue
			}
			b.WriteString(`<span class="`)
			b.WriteString(class)
			b.WriteString(`">`)
			b.WriteString(html.EscapeString(tok.Value))
			b.WriteString(`</span>`)
		}
		b.WriteString(`</span>`)
	}
	return b.String()
}

func leadingSpaces(s string) int {
	n := 0
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}
