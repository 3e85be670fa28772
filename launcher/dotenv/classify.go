package dotenv

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/wardsecrets/ward/resolve/conf"
)

// IsPlain reports whether a .env variable is plainly configuration, not a
// secret, so `ward import` keeps it in the manifest as {value: ...}
// instead of the encrypted store: an empty value, a small whole number
// (a port, a count), a boolean, a deployment word (development,
// production...), a log level, a URL without credentials or query, or a
// host:port, in UTF-8. A name that says secret (TOKEN, PASSWORD, PASSPHRASE, KEY, WEBHOOK...)
// is a secret whatever its value: PIN=1234 is not configuration, and a
// webhook's URL is its credential.
//
// Masking and ward scan treat every secret's value as something to hide
// and find; making PORT=3000 a secret would hide every 3000 in a CI log
// and flag every file that mentions the port.
func IsPlain(key string, value []byte) bool {
	// The manifest is text: a value of other bytes (Latin-1 from an old
	// editor) can only be stored, and a URL parses with them.
	v := strings.TrimSpace(string(value))
	if switchName().MatchString(key) && switchWords[strings.ToLower(v)] {
		// ENABLE_OTP=true, REQUIRE_CVV=false: a switch for a feature
		// whose name says secret, not the secret.
		return true
	}
	if cardName().MatchString(key) && countName().MatchString(key) && smallInt().MatchString(v) {
		// MAX_CARD_NUM=5, a count of cards; not CARD_NUMBER=4111, a
		// card's last four digits, which README says secret whatever
		// the value (it went into the manifest in clear).
		return true
	}
	if secretName().MatchString(key) || !utf8.Valid(value) {
		return false
	}
	switch {
	case v == "":
		return true
	case configName().MatchString(key) && configValue(v):
		// DB_USER=postgres, TZ=UTC, AWS_REGION=us-east-1: a secret,
		// they hid every "postgres" in a log under --mask, and ward
		// scan stopped commits of code that names its database user.
		return true
	case smallInt().MatchString(v):
		return true
	case plainWords[strings.ToLower(v)]:
		return true
	case hostPort().MatchString(v):
		_, port, _ := strings.Cut(v, ":")
		n, err := strconv.Atoi(port)
		return err == nil && n > 0 && n < 65536
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" && strings.Contains(v, "://") {
		return u.User == nil && u.RawQuery == "" && u.Fragment == "" && !tokenInPath(u.Path) && !hookURL(u)
	}
	return false
}

// configValue reports whether v, under a name that says configuration,
// reads as configuration too: at most 128 characters, without a blank
// (a passphrase), a URL or credentials (`://`, `@`, `user:pass`: a
// REDIS_HOST of redis://:pass@redis), nor a run of 8 letters and digits
// mixed, as a password or key has (Winter2024, a1b2c3d4e5f6).
func configValue(v string) bool {
	if len(v) > 128 || strings.ContainsAny(v, " \t@:") {
		return false
	}
	return !conf.MixedRun(v, 8)
}

// hookURL reports whether u is a webhook's URL by its shape: a host
// named hook or hooks (hooks.zapier.com, hook.eu1.make.com) with a
// path, or a path segment hook, hooks, webhook or webhooks with more
// after it (n8n's /webhook/ID). Its ids, short as Zapier's
// (/hooks/catch/1234567/b3x9k2p/), are all it takes to post to it.
func hookURL(u *url.URL) bool {
	first, _, _ := strings.Cut(strings.ToLower(u.Hostname()), ".")
	if (first == "hook" || first == "hooks") && strings.Trim(u.Path, "/") != "" {
		return true
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, seg := range segs[:max(len(segs)-1, 0)] {
		switch strings.ToLower(seg) {
		case "hook", "hooks", "webhook", "webhooks":
			return segs[i+1] != ""
		}
	}
	return false
}

// tokenInPath reports whether a URL's path has a segment that looks like
// a token: 16 characters or more, letters and digits mixed, or upper- and
// lower-case letters mixed with nothing between them, as the credentials
// of a Slack, Discord or Teams webhook or a Telegram bot URL are (one
// Slack token in 70 has no digit). Such a URL is itself the secret; a
// path of words (/v1/users, /getting-started) is configuration.
func tokenInPath(path string) bool {
	has := func(seg string, lo, hi rune) bool {
		return strings.IndexFunc(seg, func(r rune) bool { return r >= lo && r <= hi }) >= 0
	}
	for _, seg := range strings.Split(path, "/") {
		if len(seg) < 16 {
			continue
		}
		lower, upper, digits := has(seg, 'a', 'z'), has(seg, 'A', 'Z'), has(seg, '0', '9')
		alnum := strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
		if (lower || upper) && digits || lower && upper && alnum {
			return true
		}
	}
	return false
}

// The classifier's patterns compile on first use: ward links this
// package, and a regexp compiled at initialisation costs every start,
// not only `ward import` (README, Benchmarks).
var (
	// secretName matches names that say they hold a secret.
	secretName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(SECRET|TOKEN|PASSW|PASSWD|PWD|PSWD|PASS$|_PASS_|PASS_?PHRASE|PASS_?CODE|KEY|PRIVATE|CREDENTIAL|AUTH|SIGNATURE|SALT|COOKIE|SESSION|CERT|PIN\d?$|DSN|WEBHOOK(_?UR[LI])?$|(UNLOCK|ACCESS|OTP|MFA|2FA|TWO_?FA|TWO_?FACTOR|TOTP|SMS|LOGIN|RECOVERY|BACKUP|VERIF(Y|ICATION)|CONFIRM(ATION)?|RESET|SECURITY|ACTIVATION|INVITE|LICEN[CS]E|PIN|DOOR|ALARM|GATE|ENTRY|ADMIN|MASTER|PAIRING|ENROLL(MENT)?|DISARM|OVERRIDE|SIGNING)_?CODES?$|PUK\d?$|COMBINATION$|PW(_?(OLD|NEW|PREV|PREVIOUS|\d))?$|(^|_)[HT]?OTP$|(^|_)CV[VC]2?$|(^|_)(CC|CARD)_?(CSC|CID)$|(OTP|MFA|2FA|TWO_?FA|TWO_?FACTOR|AUTHENTICATOR)_?SEED$|(CARD|PIN|ACCOUNT)_?(NUMBER|NUM|NO)(_?LAST_?\d)?$|(^|_)SSN(_?LAST_?\d)?$)`)
	})
	// configName matches names that say they hold configuration: a
	// region, a host, a port, a user or database name, a locale, a time
	// zone, a level, a mode, a directory (secretName is looked at first:
	// DB_PASSWORD_USER is a secret).
	configName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)^(TZ|LANG|LANGUAGE|LC_[A-Z]+|([A-Z0-9_]*_)?(COUNTRY|LANGUAGE|LANG|CURRENCY|LOCALE|POSTAL|ZIP|AREA|STATUS|EXIT|ERROR|HTTP|REGION)_CODE|[A-Z0-9_]*_(REGION|HOST|HOSTNAME|PORT|USER|USERNAME|NAME|DATABASE|DB|SCHEMA|TIMEZONE|TZ|LOCALE|LEVEL|MODE|ENV|DIR|PATH|BUCKET|QUEUE|TOPIC|PROJECT|ZONE))$`)
	})
	// switchName matches names of a feature's switch: the name says
	// secret (ENABLE_OTP, REQUIRE_CVV), a value true or false does not.
	switchName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)^(ENABLE|ENABLED|DISABLE|DISABLED|REQUIRE|REQUIRED|USE|ALLOW|SKIP|FORCE|HAS|IS|SHOW|HIDE|WITH|NO)_`)
	})
	// cardName matches the names of a card's number, which secretName
	// says secret whatever the value.
	cardName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)(CARD|ACCOUNT)_?(NUMBER|NUM|NO)$`) })
	smallInt = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-?[0-9]{1,6}$`) })
	// countName matches a name that says it counts what it names.
	countName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(^|_)(MAX|MIN|LIMIT|COUNT|TOTAL|NUM_OF|NUMBER_OF)_`)
	})
	hostPort = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:[0-9]{1,5}$`)
	})
	switchWords = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "0": true, "1": true}
	plainWords  = map[string]bool{
		"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
		"development": true, "dev": true, "production": true, "prod": true, "staging": true, "stage": true,
		"test": true, "testing": true, "local": true, "qa": true, "ci": true, "preview": true,
		"trace": true, "debug": true, "info": true, "notice": true, "warn": true, "warning": true,
		"error": true, "fatal": true, "critical": true, "silent": true, "verbose": true,
		"localhost": true, "none": true, "null": true,
	}
)
