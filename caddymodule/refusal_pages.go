package caddymodule

import (
	"net/http"

	"github.com/ssogate/ssogate/internal/sso"
)

// refusalPage is what a person is told of a refused sign-in: what
// happened in a plain sentence, what to do next, and the link to offer
// (none when signing in again cannot help, so that the page does not
// loop back to the same refusal).
type refusalPage struct {
	msg, next, linkText string
	link                bool
}

// refusalPageFor words each refusal reason for the person refused. The
// reason code is named where the fix is an administrator's, so that they
// can find it in the log.
func refusalPageFor(ref *sso.Refusal) refusalPage {
	restart := refusalPage{msg: sentence(ref.Reason), link: true, linkText: "Start a new sign-in"}
	askAdmin := "If it happens again, tell your administrator: the log names this refusal " + ref.Code + "."
	switch ref.Code {
	case sso.CodeReplayed:
		restart.msg = "This sign-in was already used."
		restart.next = "It was finished already, perhaps in another tab or browser, or the page was reloaded. Start a new sign-in."
	case sso.CodeTime:
		restart.next = "Start a new sign-in. " + askAdmin + " The clocks of the identity provider and this site may disagree."
	case sso.CodeDomain:
		restart.next = "Sign in with your account of this organization, or ask its administrator to claim your email domain."
		restart.linkText = "Sign in with another account"
	case sso.CodeDeactivated:
		return refusalPage{msg: sentence(ref.Reason),
			next: "Ask your organization's administrator to reactivate it; signing in again will not help until they do."}
	case sso.CodeNotProvisioned:
		return refusalPage{msg: "Your account has not been provisioned for this organization.",
			next: "Ask your organization's administrator to assign you this app in the identity provider."}
	case sso.CodeNotEnabled:
		return refusalPage{msg: sentence(ref.Reason),
			next: "Ask your organization's administrator to finish setting up single sign-on."}
	case sso.CodeWrongOrg, sso.CodeUnsolicited:
		restart.msg = sentence(ref.Reason)
		restart.next = "Open the app at its own address and sign in from there."
	default:
		restart.next = "Start a new sign-in. " + askAdmin
	}
	return restart
}

// writeRefusal shows the refusal page; loginURL starts a new sign-in.
func writeRefusal(w http.ResponseWriter, ref *sso.Refusal, loginURL string) {
	p := refusalPageFor(ref)
	link := ""
	if p.link {
		link = loginURL
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(ref.Status())
	_ = pageTemplate.Execute(w, map[string]string{"Title": "Sign-in failed", "Message": p.msg, "Next": p.next,
		"Link": link, "LinkText": p.linkText})
}

// sessionEndedMessage is the login page's word to a person whose session
// ended under them (issue 15: they were bounced to the login page
// without one).
const sessionEndedMessage = "Your session has ended: you were signed out, your access changed, or it expired. Sign in again to continue."
