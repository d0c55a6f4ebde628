package components

import (
	"html"
	"strconv"
	"strings"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
)

// maxIndentClass is the deepest nesting with a CSS class of its own
// (.i0 ... .i12 in app.css); deeper lines share the last.
const maxIndentClass = 12

// jsonLexer is chroma's JSON lexer; nil only if chroma lost it, in which
// case the JSON is shown uncoloured.
var jsonLexer = lexers.Get("json")

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
	if jsonLexer != nil {
		if it, err := jsonLexer.Tokenise(nil, pretty); err == nil {
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
