package cost

import (
	"strings"
	"testing"
)

// TestDigestLineEscapesPoolName: a pool's name reaches the digest escaped.
func TestDigestLineEscapesPoolName(t *testing.T) {
	l := FormatLine(DigestLine{Pool: "<!channel> & <https://x|click>", Priced: true, Cost: 1, Currency: "USD", Week: []float64{1}})
	if strings.Contains(l, "<!channel>") || strings.Contains(l, "<https://x|click>") ||
		!strings.Contains(l, "&lt;!channel&gt; &amp; &lt;https://x|click&gt;") {
		t.Errorf("digest line %q", l)
	}
}
