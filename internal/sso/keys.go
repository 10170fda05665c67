package sso

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
)

// keyDescriptors returns the SP's published keys: every signing key
// (use="signing"), then every encryption key (use="encryption") with the
// algorithms crewjam advertises, in its order of preference. crewjam's own
// metadata lists only the first key of each use; a roll publishes the next
// ones beside them, so that the IdP can take them up before the old keys go.
func (p *Provider) keyDescriptors(fromCrewjam []saml.KeyDescriptor) []saml.KeyDescriptor {
	var methods []saml.EncryptionMethod
	for _, d := range fromCrewjam {
		if d.Use == "encryption" {
			methods = d.EncryptionMethods
		}
	}
	out := make([]saml.KeyDescriptor, 0, len(p.cfg.SigningKeys)+len(p.cfg.EncryptionKeys))
	for _, k := range p.cfg.SigningKeys {
		out = append(out, keyDescriptor("signing", k, nil))
	}
	for _, k := range p.cfg.EncryptionKeys {
		out = append(out, keyDescriptor("encryption", k, methods))
	}
	return out
}

func keyDescriptor(use string, k KeyPair, methods []saml.EncryptionMethod) saml.KeyDescriptor {
	return saml.KeyDescriptor{
		Use: use,
		KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{
			{Data: base64.StdEncoding.EncodeToString(k.Cert.Raw)},
		}}},
		EncryptionMethods: methods,
	}
}

// AllowRSA15KeyTransport lets assertions whose content key is wrapped with
// RSA PKCS#1 v1.5 decrypt, for an IdP that offers nothing else. It holds
// for the whole process (crewjam's decrypters are global) and is weaker
// than RSA-OAEP; off unless the operator turns it on.
func AllowRSA15KeyTransport() {
	xmlenc.RegisterDecrypter(rsa15Decrypter{})
}

// rsa15Algorithm names RSA PKCS#1 v1.5 key transport.
const rsa15Algorithm = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"

// rsa15Decrypter unwraps an RSA 1.5 EncryptedKey without telling a bad
// padding from a wrong key. crewjam's own v1.5 decrypter (which it leaves
// unregistered) returns padding failures as errors: the oracle
// Bleichenbacher's attack needs. This one follows the advice of RFC 5246
// §7.4.7.1 and Go's rsa.DecryptPKCS1v15SessionKey: it always yields a key
// of the size the content cipher needs, random when the padding is bad, so
// every failure shows up alike, when the content does not decrypt.
type rsa15Decrypter struct{}

func (rsa15Decrypter) Algorithm() string { return rsa15Algorithm }

func (rsa15Decrypter) Decrypt(key any, encryptedKey *etree.Element) ([]byte, error) {
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("RSA 1.5 key transport needs an RSA key")
	}
	el := encryptedKey.FindElement("./CipherData/CipherValue")
	if el == nil {
		return nil, errors.New("EncryptedKey has no CipherValue")
	}
	ciphertext, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(el.Text()), ""))
	if err != nil {
		return nil, fmt.Errorf("EncryptedKey CipherValue: %w", err)
	}
	size, err := contentKeySize(encryptedKey)
	if err != nil {
		return nil, err
	}
	sessionKey := make([]byte, size)
	if _, err := rand.Read(sessionKey); err != nil {
		return nil, err
	}
	// Only a ciphertext of the wrong length is an error here; a bad
	// padding leaves the random key in place.
	if err := rsa.DecryptPKCS1v15SessionKey(nil, priv, ciphertext, sessionKey); err != nil {
		return nil, err
	}
	return sessionKey, nil
}

// contentKeySize is the key size of the AES cipher of the EncryptedData
// whose key encryptedKey wraps: the EncryptedData around it (in KeyInfo)
// or beside it (in the EncryptedAssertion).
func contentKeySize(encryptedKey *etree.Element) (int, error) {
	var data *etree.Element
	for el := encryptedKey.Parent(); el != nil && data == nil; el = el.Parent() {
		if el.Tag == "EncryptedData" {
			data = el
		} else {
			data = el.FindElement("./EncryptedData")
		}
	}
	if data == nil {
		return 0, errors.New("no EncryptedData for the EncryptedKey")
	}
	method := data.FindElement("./EncryptionMethod")
	if method == nil {
		return 0, errors.New("EncryptedData has no EncryptionMethod")
	}
	alg := method.SelectAttrValue("Algorithm", "")
	switch {
	case strings.HasSuffix(alg, "#aes128-cbc"), strings.HasSuffix(alg, "#aes128-gcm"):
		return 16, nil
	case strings.HasSuffix(alg, "#aes192-cbc"), strings.HasSuffix(alg, "#aes192-gcm"):
		return 24, nil
	case strings.HasSuffix(alg, "#aes256-cbc"), strings.HasSuffix(alg, "#aes256-gcm"):
		return 32, nil
	}
	return 0, xmlenc.ErrAlgorithmNotImplemented(alg)
}
