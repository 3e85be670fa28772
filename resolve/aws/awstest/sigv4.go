package awstest

// Verification of AWS Signature Version 4 (header-based, single chunk
// payload), following the "Create a signed AWS API request" steps of the IAM
// user guide: canonical request, string to sign, derived signing key,
// HMAC-SHA256 signature.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	scopeDateLayout = "20060102"
	maxClockSkew    = 15 * time.Minute
)

// verifySigV4 checks r's signature and returns who made it: the
// emulator's IAM user, or temporary credentials AssumeRole issued (with
// their X-Amz-Security-Token, unexpired and not revoked).
func (s *Server) verifySigV4(r *http.Request, body []byte, signingName string) (*principal, *apiError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return nil, coralError("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != sigV4Algorithm {
		return nil, coralError("IncompleteSignatureException", "Unsupported AWS 'algorithm': '%s'", alg)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, coralError("IncompleteSignatureException", "%s Authorization=%s", strings.Join(missing, " "), auth)
	}

	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 {
		return nil, coralError("IncompleteSignatureException", "Authorization header has malformed 'Credential' parameter: %s", fields["Credential"])
	}
	keyID, scopeDate, region, svc, term := cred[0], cred[1], cred[2], cred[3], cred[4]
	caller, secretKey, aerr := s.credentialsFor(keyID, r.Header.Get("X-Amz-Security-Token"))
	if aerr != nil {
		return nil, aerr
	}

	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, coralError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", auth)
	}
	signedAt, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return nil, coralError("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate)
	}
	now := s.now().UTC()
	if signedAt.Before(now.Add(-maxClockSkew)) {
		return nil, coralError("InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout))
	}
	if signedAt.After(now.Add(maxClockSkew)) {
		return nil, coralError("InvalidSignatureException", "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateLayout), now.Format(amzDateLayout))
	}
	if scopeDate != signedAt.Format(scopeDateLayout) {
		return nil, coralError("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			scopeDate, signedAt.Format(scopeDateLayout), amzDate)
	}
	if region != s.region && !s.serves(region) {
		return nil, coralError("InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'. ", region)
	}
	if svc != signingName {
		return nil, coralError("InvalidSignatureException", "Credential should be scoped to correct service: '%s'. ", signingName)
	}
	if term != "aws4_request" {
		return nil, coralError("InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", term)
	}

	signedHeaders := strings.Split(fields["SignedHeaders"], ";")
	hasHost := false
	for _, h := range signedHeaders {
		if h == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return nil, coralError("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	payloadHash := sha256.Sum256(body)
	canonicalRequest := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.RawQuery),
		canonicalHeaders(r, signedHeaders),
		fields["SignedHeaders"],
		hex.EncodeToString(payloadHash[:]),
	}, "\n")
	crHash := sha256.Sum256([]byte(canonicalRequest))
	scope := strings.Join([]string{scopeDate, region, svc, term}, "/")
	stringToSign := strings.Join([]string{sigV4Algorithm, amzDate, scope, hex.EncodeToString(crHash[:])}, "\n")

	key := hmacSHA256([]byte("AWS4"+secretKey), scopeDate)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, svc)
	key = hmacSHA256(key, term)
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))

	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return nil, coralError("InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n"+
				"The Canonical String for this request should have been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n",
			canonicalRequest, stringToSign)
	}
	return caller, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalURI is the URI-encoded path; services other than S3 encode each
// segment of the (already once-encoded) path a second time.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i] = uriEncode(seg)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, kv{uriEncode(k), uriEncode(v)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var values []string
		switch name {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = r.Header.Values("Content-Length")
			if len(values) == 0 && r.ContentLength >= 0 {
				values = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			values = r.Header.Values(name)
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.Join(strings.Fields(v), " "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// uriEncode percent-encodes everything but the RFC 3986 unreserved
// characters, with upper-case hex digits.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
