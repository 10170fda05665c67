// Package testdns is an authoritative DNS server for TXT records on a
// random UDP port of 127.0.0.1 (miekg/dns), so that tests verify domain
// claims against real DNS messages: the sidecar's own tests and the
// end-to-end tests, whose ssogate process points dns_resolver at it.
package testdns

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers TXT queries for the names it was given and NXDOMAIN for
// the rest.
type Server struct {
	// Addr is the server's host:port.
	Addr string

	mu  sync.Mutex
	txt map[string][]string // fully qualified lower-case name → values
}

// Start runs a server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), txt: map[string][]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(s.answer)}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s
}

func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	for _, q := range req.Question {
		s.mu.Lock()
		vals, known := s.txt[strings.ToLower(q.Name)]
		s.mu.Unlock()
		if !known {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range vals {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{v}})
		}
	}
	_ = w.WriteMsg(m)
}

// Publish sets the TXT values of name.
func (s *Server) Publish(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[strings.ToLower(dns.Fqdn(name))] = values
}
