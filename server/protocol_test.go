package server

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestProtocolDocumented: ARCHITECTURE.md's table of socket calls names exactly the server's routes, so
// the document cannot drift from the code again.
func TestProtocolDocumented(t *testing.T) {
	doc, err := os.ReadFile("../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### The socket protocol")
	if !ok {
		t.Fatal("ARCHITECTURE.md has no section \"### The socket protocol\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\s*\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var routes []string
	for name := range (&Server{}).routes() {
		routes = append(routes, name)
	}
	slices.Sort(documented)
	slices.Sort(routes)
	for _, n := range routes {
		if !slices.Contains(documented, n) {
			t.Errorf("call %q is served but not in ARCHITECTURE.md's protocol table", n)
		}
	}
	for _, n := range documented {
		if !slices.Contains(routes, n) {
			t.Errorf("ARCHITECTURE.md's protocol table names %q, which the server does not serve", n)
		}
	}
}
