// Package redact masks secrets in text before it is logged.
//
// It recognises secrets by their shape (URL passwords, Bearer and Basic
// credentials) and by the name they are given (the value of "api_key=...",
// "Authorization: ..."), not by their content: a secret pasted into a log
// line without a name is not found. The rules are those of [String].
package redact

import "strings"

// mask replaces every secret.
const mask = "***"

// String returns s with secrets replaced by "***". It finds three kinds:
//
//   - The password of a URL's userinfo, after any scheme:
//     "https://bob:hunter2@host/x" becomes "https://bob:***@host/x". The
//     password runs from the userinfo's first ':' to the authority's last
//     '@' (the authority ends at '/', '?', '#', whitespace, a quote, '<',
//     '>' or '`'); a user without a password is left alone.
//   - A Bearer or Basic credential anywhere (the scheme matched
//     case-insensitively as a whole word, followed by spaces or tabs):
//     "Bearer abc.def.ghi" becomes "Bearer ***". The credential is the
//     following run of token68 characters (letters, digits and -._~+/=%).
//     For Basic the run must also be base64 of something holding a ':', as
//     "user:pass" does, so that prose such as "Basic usage" is left alone.
//   - The value of a pair whose name is secret (see below), written
//     name=value as in a query string, an environment or a logfmt line, or
//     name: value as in a header, YAML or Go's %+v. Spaces and tabs may
//     surround the '=' or ':', and the name may be quoted ("password": "x").
//     "?api_key=abc123&page=2" becomes "?api_key=***&page=2",
//     "X-Api-Key: abc" becomes "X-Api-Key: ***". A value that starts with a
//     quote runs to the closing quote (skipping backslash-escaped ones, and
//     to the end of the line if there is none), so `password="x y"` becomes
//     `password=***`. Otherwise the value ends at '&', a space, a tab, a
//     line break, a quote, ',' or ';', or the end of s; a bare value that is
//     just "Bearer" or "Basic" takes its credential with it, as in
//     "auth=Bearer abc". In the name: value form, when the name's last word
//     ends with "authorization", "cookie" or "cookies" (Authorization,
//     Proxy-Authorization, Cookie, Set-Cookie), the value, quoted or not,
//     runs to the end of the line: "Authorization: Bearer eyJhbGciOi..."
//     becomes "Authorization: ***". An empty value is left alone.
//
// A name is the run of ASCII letters, digits, '-', '_' and '.' just before
// the '=' or ':'. Its words are its runs of ASCII letters, split further
// before an upper-case letter that follows a lower-case one (apiKey: api,
// Key) and before the last capital of a run of capitals followed by a
// lower-case letter (APIKey: API, Key). A name is secret when one of its
// words, compared case-insensitively,
//
//   - is key, sig, auth, pwd or session, or
//   - ends with token, secret, secrets, password, passwd, signature,
//     credential, credentials, cookie, cookies, apikey, authorization,
//     sessionid or sessid.
//
// So api_key, apiKey, APIKEY, X-Api-Key, access_token, accesstoken,
// refreshToken, client-secret, X-Amz-Signature, sig, sessionid, session_id,
// JSESSIONID, PHPSESSID, Set-Cookie and --password are secret names, while
// monkey, keyboard, author, signal, tokenizer, secretary, max_tokens and
// pass are not.
//
// String returns s itself, without allocating, when there is nothing to
// mask. Masking is idempotent: String(String(s)) == String(s). String is
// safe for concurrent use.
func String(s string) string {
	r := redactor{s: s}
	for i := 0; i < len(s); {
		if !isNameByte(s[i]) || (i > 0 && isNameByte(s[i-1])) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		i = r.afterName(i, j)
	}
	if !r.dirty {
		return s
	}
	r.b.WriteString(s[r.last:])
	return r.b.String()
}

// redactor builds the masked copy of s, lazily: nothing is allocated until
// the first mask that changes s.
type redactor struct {
	s     string
	b     strings.Builder // s[:last] masked, once dirty
	last  int
	dirty bool
}

// mask replaces s[from:to] with the mask.
func (r *redactor) mask(from, to int) {
	if r.s[from:to] == mask {
		return
	}
	if !r.dirty {
		r.dirty = true
		r.b.Grow(len(r.s))
	}
	r.b.WriteString(r.s[r.last:from])
	r.b.WriteString(mask)
	r.last = to
}

// afterName handles the name s[i:j] and what follows it, and returns where
// scanning resumes.
func (r *redactor) afterName(i, j int) int {
	s := r.s
	name := s[i:j]

	if strings.HasPrefix(s[j:], "://") {
		return r.userinfo(j + len("://"))
	}

	if scheme := authScheme(name); scheme != notScheme {
		c := skipBlank(s, j)
		if c == j {
			return j
		}
		end := credentialEnd(s, c, scheme)
		if end > c {
			r.mask(c, end)
		}
		return end
	}

	k := j
	if i > 0 && isQuote(s[i-1]) && k < len(s) && s[k] == s[i-1] {
		k++ // closing quote of a quoted name
	}
	k = skipBlank(s, k)
	if k == len(s) || (s[k] != '=' && s[k] != ':') {
		return j
	}
	secret, toEOL := classify(name)
	if !secret {
		return j
	}
	toEOL = toEOL && s[k] == ':'
	k = skipBlank(s, k+1)
	end := valueEnd(s, k, toEOL)
	if end > k {
		r.mask(k, end)
	}
	return end
}

// userinfo masks the password in the URL authority that starts at s[a], and
// returns where scanning resumes: after the userinfo, or at a if there is
// none.
func (r *redactor) userinfo(a int) int {
	s := r.s
	at := -1
	for e := a; e < len(s) && !isAuthorityEnd(s[e]); e++ {
		if s[e] == '@' {
			at = e
		}
	}
	if at < 0 {
		return a
	}
	if c := strings.IndexByte(s[a:at], ':'); c >= 0 && a+c+1 < at {
		r.mask(a+c+1, at)
	}
	return at + 1
}

// valueEnd returns the end of the value that starts at s[k].
func valueEnd(s string, k int, toEOL bool) int {
	if toEOL {
		return lineEnd(s, k)
	}
	if k == len(s) {
		return k
	}
	if isQuote(s[k]) {
		// Whatever is glued to the closing quote goes too, so that the
		// masked result reads as one bare value and masks to itself.
		return bareEnd(s, quotedEnd(s, k))
	}
	e := bareEnd(s, k)
	if scheme := authScheme(s[k:e]); scheme != notScheme {
		if c := skipBlank(s, e); c > e {
			if ce := credentialEnd(s, c, scheme); ce > c {
				return bareEnd(s, ce)
			}
		}
	}
	return e
}

// quotedEnd returns the index after the quoted string that starts at s[k],
// or the end of the line if it is not closed on it.
func quotedEnd(s string, k int) int {
	q := s[k]
	for p := k + 1; p < len(s); p++ {
		switch c := s[p]; {
		case c == q:
			return p + 1
		case c == '\n' || c == '\r':
			return p
		case c == '\\' && p+1 < len(s) && s[p+1] != '\n' && s[p+1] != '\r':
			p++
		}
	}
	return len(s)
}

// bareEnd returns the index of the first value terminator at or after k.
func bareEnd(s string, k int) int {
	for ; k < len(s); k++ {
		switch s[k] {
		case '&', ' ', '\t', '\n', '\r', '"', '\'', ',', ';':
			return k
		}
	}
	return k
}

// lineEnd returns the index of the first line break at or after k.
func lineEnd(s string, k int) int {
	for ; k < len(s); k++ {
		if s[k] == '\n' || s[k] == '\r' {
			return k
		}
	}
	return k
}

// skipBlank returns the index of the first byte at or after k that is not a
// space or a tab.
func skipBlank(s string, k int) int {
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	return k
}

type scheme int

const (
	notScheme scheme = iota
	bearer
	basic
)

// authScheme reports which HTTP authentication scheme w names.
func authScheme(w string) scheme {
	switch {
	case strings.EqualFold(w, "bearer"):
		return bearer
	case strings.EqualFold(w, "basic"):
		return basic
	}
	return notScheme
}

// credentialEnd returns the end of the credential of the given scheme that
// starts at s[c], or c if there is none.
func credentialEnd(s string, c int, sc scheme) int {
	e := c
	for e < len(s) && isToken68(s[e]) {
		e++
	}
	if e == c || s[c] == '=' {
		return c
	}
	if sc == basic && !holdsColon(s[c:e]) {
		return c
	}
	return e
}

// holdsColon reports whether t is base64 (standard or URL alphabet, padded
// or not, possibly truncated) of bytes that include a ':'.
func holdsColon(t string) bool {
	var acc uint32
	var bits uint
	for i := 0; i < len(t) && t[i] != '='; i++ {
		v := base64Value(t[i])
		if v < 0 {
			return false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			if byte(acc>>bits) == ':' {
				return true
			}
			acc &= 1<<bits - 1
		}
	}
	return false
}

func base64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+' || c == '-':
		return 62
	case c == '/' || c == '_':
		return 63
	}
	return -1
}

// classify reports whether name is a secret name and whether its value, in
// the name: value form, runs to the end of the line.
func classify(name string) (secret, toEOL bool) {
	var last string
	for w, i := nextWord(name, 0); w != ""; w, i = nextWord(name, i) {
		secret = secret || secretWord(w)
		last = w
	}
	return secret, secret && (hasSuffixFold(last, "authorization") ||
		hasSuffixFold(last, "cookie") || hasSuffixFold(last, "cookies"))
}

// nextWord returns the word of name that starts at or after i, and the index
// after it; it returns "" when there are no more words.
func nextWord(name string, i int) (string, int) {
	for i < len(name) && !isLetter(name[i]) {
		i++
	}
	start := i
	for i++; i < len(name) && isLetter(name[i]); i++ {
		c, prev := name[i], name[i-1]
		if isUpper(c) && (!isUpper(prev) || i+1 < len(name) && isLower(name[i+1])) {
			break
		}
	}
	if start >= len(name) {
		return "", i
	}
	return name[start:i], i
}

// secretWord reports whether w is a word of a secret name.
func secretWord(w string) bool {
	for _, x := range exactWords {
		if strings.EqualFold(w, x) {
			return true
		}
	}
	for _, x := range suffixWords {
		if hasSuffixFold(w, x) {
			return true
		}
	}
	return false
}

var (
	exactWords  = [...]string{"key", "sig", "auth", "pwd", "session"}
	suffixWords = [...]string{
		"token", "secret", "secrets", "password", "passwd", "signature",
		"credential", "credentials", "cookie", "cookies", "apikey",
		"authorization", "sessionid", "sessid",
	}
)

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func isNameByte(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

func isLetter(c byte) bool { return isUpper(c) || isLower(c) }
func isUpper(c byte) bool  { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool  { return 'a' <= c && c <= 'z' }
func isQuote(c byte) bool  { return c == '"' || c == '\'' }

func isToken68(c byte) bool {
	return isNameByte(c) || c == '~' || c == '+' || c == '/' || c == '=' || c == '%'
}

// isAuthorityEnd reports whether c ends a URL's authority.
func isAuthorityEnd(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>', '`':
		return true
	}
	return false
}
