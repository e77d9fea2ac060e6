package redact_test

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/rebound-go/rebound/internal/redact"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		// Nothing to mask.
		{"empty", "", ""},
		{"plain", "request completed in 12ms", "request completed in 12ms"},
		{"logfmt", "level=info method=GET path=/v1/users status=200", "level=info method=GET path=/v1/users status=200"},
		{"monkey", "monkey=banana", "monkey=banana"},
		{"not whole words", "keyboard=qwerty author=bob signal=9 tokenizer=bpe secretary=ann", "keyboard=qwerty author=bob signal=9 tokenizer=bpe secretary=ann"},
		{"plural token", "max_tokens=100", "max_tokens=100"},
		{"timestamp", "at 12:30:45 on 2025-01-02", "at 12:30:45 on 2025-01-02"},
		{"URL without password", "ssh://git@github.com/x.git", "ssh://git@github.com/x.git"},
		{"URL with @ in path", "https://host/x?mail=a:b@c", "https://host/x?mail=a:b@c"},
		{"empty value", "token=&page=2", "token=&page=2"},
		{"Basic prose", "Basic usage: Basic auth is off", "Basic usage: Basic auth is off"},
		{"Bearer without credential", "Bearer", "Bearer"},
		{"name without separator", "reset your password now", "reset your password now"},
		{"already masked", "token=*** Bearer *** https://a:***@h\nAuthorization: ***", "token=*** Bearer *** https://a:***@h\nAuthorization: ***"},

		// URL userinfo.
		{"URL password", "https://bob:hunter2@host/x", "https://bob:***@host/x"},
		{"URL empty user", "redis://:s3cr3t@cache:6379/0", "redis://:***@cache:6379/0"},
		{"URL @ in password", "postgres://u:p@ss@db:5432/app", "postgres://u:***@db:5432/app"},
		{"URL in a value", `dsn="mysql://root:toor@tcp(db)/x"`, `dsn="mysql://root:***@tcp(db)/x"`},
		{"URL password named token", "https://token:abc@host/x", "https://token:***@host/x"},

		// Bearer and Basic.
		{"Bearer", "Bearer abc.def.ghi", "Bearer ***"},
		{"bearer anywhere", "retrying with bearer abc.def.ghi, attempt 2", "retrying with bearer ***, attempt 2"},
		{"Basic", "sent Basic dXNlcjpwYXNz to upstream", "sent Basic *** to upstream"},
		{"Basic unpadded", "Basic YTpi", "Basic ***"},

		// name=value.
		{"query parameter", "GET /x?api_key=abc123&page=2", "GET /x?api_key=***&page=2"},
		{"many secrets", "/cb?code=1&access_token=aaa&sig=bbb&state=x", "/cb?code=1&access_token=***&sig=***&state=x"},
		{"URL-encoded value", "?token=abc%2Fdef%3D%3D&x=1", "?token=***&x=1"},
		{"double-quoted value", `password="x y" user=bob`, `password=*** user=bob`},
		{"single-quoted value", `DB_PASSWORD='x y'`, `DB_PASSWORD=***`},
		{"escaped quote", `secret="a\"b" next=1`, `secret=*** next=1`},
		{"unterminated quote", "secret=\"a b\nnext=1", "secret=***\nnext=1"},
		{"quoted inside a value", `msg="login token=abc failed" level=warn`, `msg="login token=*** failed" level=warn`},
		{"JSON", `{"user":"bob","password":"hunter2","n":1}`, `{"user":"bob","password":***,"n":1}`},
		{"spaces around =", "password = hunter2", "password = ***"},
		{"terminators", "key=a,b sig=c;d pwd=e'f", "key=***,b sig=***;d pwd=***'f"},
		{"value with = and :", "token=a=b:c@d", "token=***"},
		{"auth scheme in value", "auth=Bearer abc.def next", "auth=*** next"},
		{"auth scheme in value, odd credential", "auth=BeArer a!b next", "auth=*** next"},
		{"flag", "run --password=hunter2 --verbose", "run --password=*** --verbose"},
		{"Amazon signed URL", "?X-Amz-Credential=AKIA%2F2025&X-Amz-Signature=f00d&X-Amz-Date=1", "?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1"},
		{"unicode", "ユーザー=太郎 パスワード token=秘密の値 ok", "ユーザー=太郎 パスワード token=*** ok"},
		{"unicode before name", "ключtoken=значение", "ключtoken=***"},

		// name: value.
		{"header", "X-Api-Key: abc", "X-Api-Key: ***"},
		{"Authorization", "Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "Authorization: ***"},
		{"Authorization to end of line", "Authorization: Digest a=1, b=2\r\nAccept: */*", "Authorization: ***\r\nAccept: */*"},
		{"Cookie", "Cookie: sid=1; theme=dark\nHost: x", "Cookie: ***\nHost: x"},
		{"Set-Cookie", "Set-Cookie: id=a3fWa; Secure", "Set-Cookie: ***"},
		{"Authorization in JSON", `{"Authorization":"Bearer x","Accept":"*/*"}` + "\nnext", `{"Authorization":***` + "\nnext"},
		{"Authorization with = is a pair", "Authorization=Bearer x, y", "Authorization=***, y"},
		{"Go struct", "{Name:bob Token:abc Page:2}", "{Name:bob Token:*** Page:2}"},
		{"YAML", "db:\n  password: hunter2\n  host: x", "db:\n  password: ***\n  host: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestStringNames checks the rule for secret names through name=value.
func TestStringNames(t *testing.T) {
	secret := []string{
		"token", "key", "secret", "password", "passwd", "pwd", "signature",
		"sig", "auth", "apikey", "api_key", "api-key", "credential",
		"session", "cookie", "authorization",
		"apiKey", "APIKey", "APIKEY", "API_KEY", "X-Api-Key", "x.api.key",
		"access_token", "accessToken", "accesstoken", "refresh-token",
		"client_secret", "clientSecret", "secrets", "credentials",
		"X-Amz-Signature", "AWSAccessKeyId", "authToken", "OAuthToken",
		"sessionid", "session_id", "sessionID", "JSESSIONID", "PHPSESSID",
		"Proxy-Authorization", "db.password", "userPassword", "2fa_token",
		"password_policy_url", // any secret word makes the name secret
	}
	plain := []string{
		"monkey", "keyboard", "turkey", "author", "authors", "signal",
		"signup", "tokenizer", "secretary", "max_tokens", "keys", "pass",
		"passport", "sessions", "sid", "id", "page", "user", "oauth",
		"Bearer", "url",
	}
	for _, name := range secret {
		t.Run(name, func(t *testing.T) {
			in, want := name+"=v4lue", name+"=***"
			if got := redact.String(in); got != want {
				t.Errorf("String(%q) = %q, want %q", in, got, want)
			}
		})
	}
	for _, name := range plain {
		t.Run(name, func(t *testing.T) {
			in := name + "=v4lue"
			if got := redact.String(in); got != in {
				t.Errorf("String(%q) = %q, want it unchanged", in, got)
			}
		})
	}
}

func TestStringUnchangedIsSameString(t *testing.T) {
	in := strings.Repeat("level=info msg=ok ", 4)
	if got := redact.String(in); unsafe.StringData(got) != unsafe.StringData(in) {
		t.Errorf("String(%q) returned a copy, want the same string", in)
	}
	if n := testing.AllocsPerRun(100, func() { redact.String(in) }); n != 0 {
		t.Errorf("String(%q) made %v allocations, want 0", in, n)
	}
}

// fuzzNames are secret names for FuzzString's name=value inputs.
var fuzzNames = [...]string{
	"password", "api_key", "apiKey", "X-Api-Key", "access_token",
	"client_secret", "sig", "sessionid", "PHPSESSID", "Authorization",
	"auth", "pwd", "X-Amz-Signature", "credentials", "cookie",
}

// fuzzAround are the (prefix, suffix) pairs FuzzString puts around a
// name=value input.
var fuzzAround = [...][2]string{
	{"", ""},
	{"GET /x?", "&page=2"},
	{"GET /x?a=1&", ""},
	{`msg="`, `"`},
	{"config ", ";x"},
	{"{", ",y}"},
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", "monkey=banana", "https://bob:hunter2@host/x", "Bearer abc.def.ghi",
		"Basic dXNlcjpwYXNz", "?api_key=abc123&page=2", `password="x y"`,
		"Authorization: Bearer eyJhbGciOi", `{"token":"a\"b"}`, "token=\"a\nb",
		"auth=Bearer x", "Auth=BeArer 0!", "Authorization:\"\" ", "a://b:c@d@e/f", "token=\"a\"b\"c",
	} {
		f.Add(s, uint8(0), "s3cr3t")
	}
	f.Fuzz(func(t *testing.T, s string, pick uint8, value string) {
		got := redact.String(s)
		if again := redact.String(got); again != got {
			t.Fatalf("String(%q) = %q, but String of that = %q: not idempotent", s, got, again)
		}
		lower := strings.ToLower(s)
		if !strings.ContainsAny(s, "=:@") && !strings.Contains(lower, "bearer") &&
			!strings.Contains(lower, "basic") && got != s {
			t.Fatalf("String(%q) = %q, want it unchanged", s, got)
		}

		// A secret name with a value that holds no terminator.
		value = strings.Map(func(r rune) rune {
			if strings.ContainsRune("&,;\"' \t\r\n", r) {
				return -1
			}
			return r
		}, value)
		if value == "" {
			return
		}
		name := fuzzNames[int(pick)%len(fuzzNames)]
		around := fuzzAround[int(pick)/len(fuzzNames)%len(fuzzAround)]
		in := around[0] + name + "=" + value + around[1]
		want := around[0] + name + "=***" + around[1]
		if got := redact.String(in); got != want {
			t.Fatalf("String(%q) = %q, want %q", in, got, want)
		}
	})
}

func BenchmarkString(b *testing.B) {
	const (
		clean   = `2025-01-02T03:04:05Z level=info msg="request done" method=GET path=/v1/users/42 status=200 duration=12ms`
		secrets = `2025-01-02T03:04:05Z level=info msg="request done" url="https://bob:hunter2@api/x?api_key=abc123&page=2" Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln`
	)
	// The baseline is the cheapest check any redactor must make: looking
	// for a separator at all.
	b.Run("baseline/ContainsAny", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			strings.ContainsAny(clean, "=:@")
		}
	})
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			redact.String(clean)
		}
	})
	b.Run("secrets", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			redact.String(secrets)
		}
	})
}
