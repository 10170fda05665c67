package sso

import (
	"bytes"
	"errors"
	"fmt"
)

// scanShape applies checkShape's structural bounds to the decoded
// response: no directive, at most maxResponseNodes elements and
// attributes, at most maxResponseDepth levels, one root named Response,
// at most one assertion directly under it, end tags that match.
//
// It is hand-written because encoding/xml's RawToken cost about 0.28 ms
// and 367 allocations per sign-in, for tokens we only count. It reads
// just enough of the XML to find the tags, their names and attributes:
// it only bounds the shape and the cost of what follows. Everything else
// in well-formedness (entities, characters, the Unicode classes of names,
// the XML declaration) is left to crewjam's xmlroundtrip and etree, which
// parse the whole response afterwards. It takes every document that
// encoding/xml tokenizes and refuses it exactly as that tokenizer would;
// FuzzScanShape compares the two to keep it so.
func scanShape(raw []byte) error {
	_, err := scanResponse(raw)
	return err
}

// responseShape is what scanResponse notes on the way: whether the
// assertion is encrypted, and the Response's IssueInstant attribute (raw),
// which crewjam checks but does not return.
type responseShape struct {
	encrypted    bool
	issueInstant []byte
}

// scanResponse is scanShape, returning what it noted.
func scanResponse(raw []byte) (responseShape, error) {
	var shape responseShape
	// Anywhere, even in a comment or a CDATA section: no IdP sends one.
	if bytes.Contains(raw, []byte("<!DOCTYPE")) || bytes.Contains(raw, []byte("<!ENTITY")) {
		return shape, refuse(CodeMalformed, "the response carries a DOCTYPE", nil)
	}
	// The open elements' qualified names, as raw[start:end]: compared
	// raw, as RawToken does, and without a string per element.
	var open [maxResponseDepth]struct{ start, end int }
	depth, roots, nodes, assertions := 0, 0, 0, 0
	for i := 0; i < len(raw); {
		if raw[i] != '<' {
			// Text: its entities and characters are crewjam's to check.
			k := bytes.IndexByte(raw[i:], '<')
			if k < 0 {
				break
			}
			i += k
			continue
		}
		i++
		if i == len(raw) {
			return shape, malformed("unterminated tag")
		}
		switch raw[i] {
		case '?': // a processing instruction or the XML declaration
			k := bytes.Index(raw[i+1:], []byte("?>"))
			if k < 0 {
				return shape, malformed("unterminated processing instruction")
			}
			i += 1 + k + 2
		case '!':
			i++
			switch {
			case bytes.HasPrefix(raw[i:], []byte("--")):
				// As in encoding/xml, the first "--" must end the comment.
				k := bytes.Index(raw[i+2:], []byte("--"))
				if k < 0 || i+2+k+2 == len(raw) || raw[i+2+k+2] != '>' {
					return shape, malformed("unterminated comment")
				}
				i += 2 + k + 3
			case bytes.HasPrefix(raw[i:], []byte("[CDATA[")):
				k := bytes.Index(raw[i+7:], []byte("]]>"))
				if k < 0 {
					return shape, malformed("unterminated CDATA section")
				}
				i += 7 + k + 3
			case i < len(raw) && (raw[i] == '-' || raw[i] == '['):
				return shape, malformed("neither a comment nor a CDATA section")
			default:
				return shape, refuse(CodeMalformed, "the response carries a DOCTYPE", errors.New("XML directive"))
			}
		case '/':
			start, end := i+1, nameEnd(raw, i+1)
			j := skipSpace(raw, end)
			if start == end || j == len(raw) || raw[j] != '>' {
				return shape, malformed("bad end tag")
			}
			if depth == 0 || !bytes.Equal(raw[open[depth-1].start:open[depth-1].end], raw[start:end]) {
				return shape, refuse(CodeMalformed, "the response is not well-formed XML", errors.New("mismatched end element"))
			}
			depth--
			i = j + 1
		default:
			start, end := i, nameEnd(raw, i)
			if start == end {
				return shape, malformed("bad start tag")
			}
			// The attributes, name="value" or name='value', spaces
			// optional between them as in encoding/xml.
			attrs, empty, j := 0, false, end
			for {
				j = skipSpace(raw, j)
				if j == len(raw) {
					return shape, malformed("unterminated start tag")
				}
				if raw[j] == '>' {
					break
				}
				if raw[j] == '/' {
					if j+1 == len(raw) || raw[j+1] != '>' {
						return shape, malformed("bad start tag")
					}
					empty, j = true, j+1
					break
				}
				k := nameEnd(raw, j)
				if k == j {
					return shape, malformed("bad attribute")
				}
				attr := raw[j:k]
				if j = skipSpace(raw, k); j == len(raw) || raw[j] != '=' {
					return shape, malformed("bad attribute")
				}
				if j = skipSpace(raw, j+1); j == len(raw) || (raw[j] != '"' && raw[j] != '\'') {
					return shape, malformed("bad attribute")
				}
				k = bytes.IndexByte(raw[j+1:], raw[j])
				if k < 0 {
					return shape, malformed("unterminated attribute value")
				}
				if depth == 0 && string(attr) == "IssueInstant" {
					shape.issueInstant = raw[j+1 : j+1+k]
				}
				j += 1 + k + 1
				attrs++
			}
			i = j + 1

			// The checks, in the order checkShape made them.
			if nodes += 1 + attrs; nodes > maxResponseNodes {
				return shape, refuse(CodeTooLarge, "the response has too many XML elements", fmt.Errorf("over %d elements and attributes", maxResponseNodes))
			}
			if depth >= maxResponseDepth {
				return shape, refuse(CodeMalformed, "the response is nested too deeply", fmt.Errorf("over %d levels", maxResponseDepth))
			}
			switch local := localName(raw[start:end]); depth {
			case 0:
				if roots++; roots > 1 {
					return shape, refuse(CodeMalformed, "the response is not well-formed XML", errors.New("more than one root element"))
				}
				if string(local) != "Response" {
					return shape, refuse(CodeMalformed, "the document is not a SAML Response", nil)
				}
			default:
				if string(local) == "Assertion" || string(local) == "EncryptedAssertion" {
					// Only directly under the Response: one inside
					// Extensions, Status or another assertion's Advice
					// is a second assertion that crewjam would skip.
					if depth > 1 {
						return shape, refuse(CodeMultipleAssertions, "the response carries an assertion outside its place", fmt.Errorf("%s at depth %d", local, depth))
					}
					if assertions++; assertions > 1 {
						return shape, refuse(CodeMultipleAssertions, "the response carries more than one assertion", nil)
					}
					shape.encrypted = string(local) == "EncryptedAssertion"
				}
			}
			if !empty {
				open[depth].start, open[depth].end = start, end
				depth++
			}
		}
	}
	if roots == 0 || depth != 0 {
		return shape, refuse(CodeMalformed, "the response is not well-formed XML", errors.New("no root element, or one left open"))
	}
	return shape, nil
}

func malformed(why string) error {
	return refuse(CodeMalformed, "the response is not well-formed XML", errors.New(why))
}

// nameByte holds the bytes encoding/xml reads as part of a name: every
// non-ASCII byte counts (it checks their Unicode classes afterwards).
var nameByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == ':' || c == '.' || c == '-'
	}
	return t
}()

// nameEnd is the end of the name starting at raw[i], i itself if none.
func nameEnd(raw []byte, i int) int {
	for i < len(raw) && nameByte[raw[i]] {
		i++
	}
	return i
}

// skipSpace skips the white space encoding/xml allows inside tags.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\t' || raw[i] == '\r') {
		i++
	}
	return i
}

// localName is a qualified name's local part, split as encoding/xml
// splits it: a prefix needs a non-empty name on both sides of the colon.
func localName(q []byte) []byte {
	if k := bytes.IndexByte(q, ':'); k > 0 && k < len(q)-1 {
		return q[k+1:]
	}
	return q
}
