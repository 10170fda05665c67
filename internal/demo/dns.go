package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ssogate/ssogate/internal/domainclaim"
)

// ChallengeName is the DNS name whose TXT record proves the demo org's
// claim on Domain.
var ChallengeName = domainclaim.RecordName(Domain)

// demoDNS is the demo's DNS server on 127.0.0.1 (UDP, and TCP on the
// same port when it is free). It stands in for the DNS host of the demo
// org's IT admin, who has already published the record a claim asks for:
// the TXT query for ChallengeName is answered with the value of the org's
// claim on Domain, read from the store at each query, so that Verify
// passes as soon as the domain is claimed. No claim, or any other name:
// NXDOMAIN. The ssogate app's dns_resolver points at it.
type demoDNS struct {
	addr  string
	value func(context.Context) (string, error) // "" when nothing is published
	srvs  []*dns.Server
}

// startDNS starts the server; value returns the TXT value to publish at
// ChallengeName, or "" for none.
func startDNS(value func(context.Context) (string, error)) (*demoDNS, error) {
	d := &demoDNS{value: value}
	var lastErr error
	for range 5 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("starting the demo DNS: %w", err)
		}
		d.addr = pc.LocalAddr().String()
		ln, err := net.Listen("tcp", d.addr)
		if err != nil {
			// The TCP port is taken: try another pair, and settle for UDP
			// alone at the last try (the resolver asks over UDP; TCP is
			// only for answers too long for it, which these never are).
			lastErr = err
			pc.Close()
			continue
		}
		d.serve(&dns.Server{PacketConn: pc}, &dns.Server{Listener: ln})
		return d, nil
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the demo DNS: %w (and TCP: %v)", err, lastErr)
	}
	d.addr = pc.LocalAddr().String()
	d.serve(&dns.Server{PacketConn: pc})
	return d, nil
}

// serve runs the servers and returns once each one is up.
func (d *demoDNS) serve(srvs ...*dns.Server) {
	for _, s := range srvs {
		started := make(chan struct{})
		s.Handler = dns.HandlerFunc(d.answer)
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		d.srvs = append(d.srvs, s)
	}
}

// Close stops the servers.
func (d *demoDNS) Close() error {
	var errs []error
	for _, s := range d.srvs {
		if err := s.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *demoDNS) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	if !strings.EqualFold(q.Name, dns.Fqdn(ChallengeName)) || q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(m)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	value, err := d.value(ctx)
	switch {
	case err != nil:
		m.Rcode = dns.RcodeServerFailure
	case value == "":
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY:
		// TTL 0: a new claim's value is seen at once.
		m.Answer = append(m.Answer, &dns.TXT{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0},
			Txt: []string{value},
		})
	}
	_ = w.WriteMsg(m)
}
