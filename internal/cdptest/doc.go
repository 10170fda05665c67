// Package cdptest drives a headless Chromium over the Chrome DevTools
// Protocol, for ssogate's real-browser tests: they check what only a
// browser enforces (such as a page's Content-Security-Policy, which holds
// a form's redirects to its form-action, or an auto-posted SAML form)
// without a browser-automation dependency. It is a small client, just
// enough to run one tab: navigate, evaluate JavaScript, click and type,
// wait for a page, take screenshots, call any DevTools method and listen
// to its events.
//
// It is for tests only: Start takes a testing.TB, and every failure ends
// the test. Tests find the browser with ChromiumPath and skip without one
// (Need does both). The driver builds on Unix only.
package cdptest
