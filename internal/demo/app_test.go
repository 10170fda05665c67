package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAppReadsEncodedTeams(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Forwarded-Email", "ann@example.com")
	r.Header.Set("X-Forwarded-Groups", "Analysts%2Cowners,Sales%2C%20EMEA,100%25")
	w := httptest.NewRecorder()
	newApp("http://gate.test").ServeHTTP(w, r)
	want := `Your teams: <span>Analysts,owners</span><span>Sales, EMEA</span><span>100%</span></p>`
	if !strings.Contains(w.Body.String(), want) {
		t.Errorf("the app page lacks %q:\n%s", want, w.Body.String())
	}
}
