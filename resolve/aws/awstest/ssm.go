package awstest

// AWS Systems Manager Parameter Store (ssm-2014-11-06): GetParameter,
// GetParameters, PutParameter, LabelParameterVersion.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	typeString       = "String"
	typeStringList   = "StringList"
	typeSecureString = "SecureString"

	tierStandard = "Standard"
	tierAdvanced = "Advanced"

	maxGetParameters   = 10
	maxParamVersions   = 100
	maxVersionLabels   = 10
	maxLabelLength     = 100
	maxHierarchyDepth  = 15
	maxStandardValue   = 4096
	maxAdvancedValue   = 8192
	defaultSSMKeyAlias = "alias/aws/ssm"
)

var ssmOps = map[string]handlerFunc{
	"GetParameter":  (*Server).ssmGetParameter,
	"GetParameters": (*Server).ssmGetParameters,
	"PutParameter":  (*Server).ssmPutParameter,

	"LabelParameterVersion": (*Server).ssmLabelParameterVersion,
}

type parameter struct {
	name     string
	versions []*paramVersion // ascending; old versions beyond maxParamVersions are dropped
}

type paramVersion struct {
	version    int64
	typ        string
	value      string
	ciphertext string // SecureString only: what comes back without WithDecryption
	keyID      string
	tier       string
	dataType   string
	modified   time.Time
	labels     []string // at most maxVersionLabels; a label is on one version of a parameter at most
}

func (p *parameter) latest() *paramVersion { return p.versions[len(p.versions)-1] }

func (p *parameter) version(n int64) *paramVersion {
	for _, v := range p.versions {
		if v.version == n {
			return v
		}
	}
	return nil
}

// labelled returns the version that carries label (case-sensitive).
func (p *parameter) labelled(label string) *paramVersion {
	for _, v := range p.versions {
		if slices.Contains(v.labels, label) {
			return v
		}
	}
	return nil
}

// ssmARNPrefix is what a parameter's name (from the root) follows in its
// ARN.
func (s *Server) ssmARNPrefix() string {
	return "arn:aws:ssm:" + s.region + ":" + AccountID + ":parameter"
}

// ParameterARN returns the ARN AWS gives the named parameter.
func (s *Server) ParameterARN(name string) string {
	if strings.HasPrefix(name, "/") {
		return s.ssmARNPrefix() + name
	}
	return s.ssmARNPrefix() + "/" + name
}

// parseParameterRef splits a GetParameter(s) name into the parameter name and
// an optional selector (the part after ':' in "name:version" or
// "name:label"). A parameter ARN is accepted in place of the name.
func (s *Server) parseParameterRef(ref string) (name, selector string, hasSelector bool) {
	rest := ref
	if strings.HasPrefix(ref, s.ssmARNPrefix()+"/") {
		rest = strings.TrimPrefix(ref, s.ssmARNPrefix())
	}
	name, selector, hasSelector = strings.Cut(rest, ":")
	return name, selector, hasSelector
}

// lookupParameter resolves a name as returned by parseParameterRef. A name
// taken from an ARN has a leading "/" that a top-level name without one
// lacks. Callers hold s.mu.
func (s *Server) lookupParameter(ref, name string) *parameter {
	if p := s.params[name]; p != nil {
		return p
	}
	if strings.HasPrefix(ref, s.ssmARNPrefix()+"/") {
		return s.params[strings.TrimPrefix(name, "/")]
	}
	return nil
}

func ssmError(code, msgKey, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msgKey: msgKey, message: fmt.Sprintf(format, args...)}
}

// kmsFault is the KMS failure FailDecrypt or DenyKMS set for reading p
// through ref, if any. Callers hold s.mu.
func (s *Server) kmsFault(ref string, p *ssmParameterOut, decrypt bool) *apiError {
	if !decrypt || p.Type != typeSecureString {
		return nil
	}
	switch {
	case matches(s.noDecr, s.paramSubjects(ref)...):
		return kmsDecryptDenied()
	case matches(s.noKMS, s.paramSubjects(ref)...):
		// KMS's answer for a key the caller's identity cannot see: one in
		// another account whose key policy does not name it.
		return &apiError{status: http.StatusBadRequest, code: "AccessDeniedException", msgKey: "Message",
			message: "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: " + newUUID() + "; Proxy: null)"}
	}
	return nil
}

// kmsDecryptDenied is what SSM passes on when KMS refuses to decrypt a
// SecureString: an AccessDeniedException whose message is KMS's own.
func kmsDecryptDenied() *apiError {
	keyARN := "arn:aws:kms:" + Region + ":" + AccountID + ":key/" + newUUID()
	return &apiError{
		status: http.StatusBadRequest,
		code:   "AccessDeniedException",
		msgKey: "Message",
		message: fmt.Sprintf("User: %s is not authorized to perform: kms:Decrypt on resource: %s because no identity-based policy allows the kms:Decrypt action (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: %s; Proxy: null)",
			CallerARN, keyARN, newUUID()),
	}
}

type ssmParameterOut struct {
	Name             string        `json:"Name"`
	Type             string        `json:"Type"`
	Value            string        `json:"Value"`
	Version          int64         `json:"Version"`
	Selector         string        `json:"Selector,omitempty"`
	LastModifiedDate *epochSeconds `json:"LastModifiedDate"`
	ARN              string        `json:"ARN"`
	DataType         string        `json:"DataType"`
}

// paramRead is one resolved GetParameter(s) name.
type paramRead struct {
	out     *ssmParameterOut
	missing *apiError // ParameterNotFound / ParameterVersionNotFound
}

// readParameter resolves ref. Access checks are done by the caller.
// Callers hold s.mu.
func (s *Server) readParameter(ref string, decrypt bool) paramRead {
	name, selector, hasSelector := s.parseParameterRef(ref)
	p := s.lookupParameter(ref, name)
	if p == nil {
		// AWS sends ParameterNotFound without a message.
		return paramRead{missing: ssmError("ParameterNotFound", "message", "")}
	}
	v := p.latest()
	if hasSelector {
		n, err := strconv.ParseInt(selector, 10, 64)
		if err != nil {
			// A label: a selector that is not a number.
			if v = p.labelled(selector); v == nil {
				return paramRead{missing: ssmError("ParameterVersionNotFound", "message",
					"Systems Manager could not find label %s of %s. Verify the label and try again.", selector, p.name)}
			}
		} else if v = p.version(n); v == nil {
			return paramRead{missing: ssmError("ParameterVersionNotFound", "message",
				"Systems Manager could not find version %d of %s. Verify the version and try again.", n, p.name)}
		}
	}
	out := &ssmParameterOut{
		Name:             p.name,
		Type:             v.typ,
		Value:            v.value,
		Version:          v.version,
		LastModifiedDate: epoch(v.modified),
		ARN:              s.ParameterARN(p.name),
		DataType:         v.dataType,
	}
	if hasSelector {
		out.Selector = ":" + selector
	}
	if v.typ == typeSecureString && !decrypt {
		out.Value = v.ciphertext
	}
	return paramRead{out: out}
}

// paramSubjects are the names a Deny / FailDecrypt pattern is matched
// against for a GetParameter(s) name.
func (s *Server) paramSubjects(ref string) []string {
	name, _, _ := s.parseParameterRef(ref)
	return []string{name, strings.TrimPrefix(name, "/"), s.ParameterARN(name)}
}

func (s *Server) ssmGetParameter(body []byte) (any, error) {
	var in struct {
		Name           *string
		WithDecryption *bool
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, validationError("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	decrypt := in.WithDecryption != nil && *in.WithDecryption
	s.mu.Lock()
	defer s.mu.Unlock()
	name, _, _ := s.parseParameterRef(*in.Name)
	if matches(s.deny, s.paramSubjects(*in.Name)...) {
		return nil, accessDenied("Message", "ssm:GetParameter", s.ParameterARN(name))
	}
	r := s.readParameter(*in.Name, decrypt)
	if r.missing != nil {
		return nil, r.missing
	}
	if aerr := s.kmsFault(*in.Name, r.out, decrypt); aerr != nil {
		return nil, aerr
	}
	return struct {
		Parameter *ssmParameterOut `json:"Parameter"`
	}{r.out}, nil
}

func (s *Server) ssmGetParameters(body []byte) (any, error) {
	var in struct {
		Names          []string
		WithDecryption *bool
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Names == nil:
		return nil, validationError("1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null")
	case len(in.Names) == 0:
		return nil, validationError("1 validation error detected: Value '[]' at 'names' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(in.Names) > maxGetParameters:
		return nil, validationError("1 validation error detected: Value '%s' at 'names' failed to satisfy constraint: Member must have length less than or equal to %d",
			listForMessage(in.Names), maxGetParameters)
	}
	decrypt := in.WithDecryption != nil && *in.WithDecryption
	s.mu.Lock()
	defer s.mu.Unlock()
	// IAM authorizes every named resource before anything is read.
	for _, ref := range in.Names {
		if matches(s.deny, s.paramSubjects(ref)...) {
			name, _, _ := s.parseParameterRef(ref)
			return nil, accessDenied("Message", "ssm:GetParameters", s.ParameterARN(name))
		}
	}
	out := struct {
		Parameters        []*ssmParameterOut `json:"Parameters"`
		InvalidParameters []string           `json:"InvalidParameters"`
	}{Parameters: []*ssmParameterOut{}, InvalidParameters: []string{}}
	seen := map[string]bool{}
	for _, ref := range in.Names {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		r := s.readParameter(ref, decrypt)
		if r.missing != nil {
			out.InvalidParameters = append(out.InvalidParameters, ref)
			continue
		}
		if aerr := s.kmsFault(ref, r.out, decrypt); aerr != nil {
			return nil, aerr
		}
		out.Parameters = append(out.Parameters, r.out)
	}
	// "The results for GetParameters requests are listed in alphabetical
	// order in query responses."
	sort.SliceStable(out.Parameters, func(i, j int) bool { return out.Parameters[i].Name < out.Parameters[j].Name })
	return out, nil
}

var paramNameChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

func validateParameterName(name string) *apiError {
	switch {
	case name == "":
		return validationError("1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(name) > 2048:
		return validationError("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048")
	case strings.HasPrefix(name, "arn:"):
		return validationError("Parameter name: can't be an ARN. Use the parameter name only.")
	case !paramNameChars.MatchString(name):
		return validationError("Parameter name must contain only the following symbols and letters: a-zA-Z0-9_.-/")
	case strings.Contains(name, "/") && !strings.HasPrefix(name, "/"):
		return validationError("Parameter name must be a fully qualified name.")
	}
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return validationError(`Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). If formed as path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`)
	}
	if strings.Count(name, "/") > maxHierarchyDepth {
		return ssmError("HierarchyLevelLimitExceededException", "message",
			"A hierarchy can have a maximum of 15 levels. For more information, see Requirements and Constraints for Parameter Names in the Amazon Web Services Systems Manager User Guide.")
	}
	return nil
}

type ssmPutInput struct {
	Name           *string
	Value          *string
	Type           *string
	Overwrite      *bool
	Description    *string
	KeyId          *string
	AllowedPattern *string
	Tier           *string
	DataType       *string
	Tags           []struct{ Key, Value *string }
	Policies       *string
}

// putParameter implements PutParameter. Callers hold s.mu.
func (s *Server) putParameter(in ssmPutInput) (*paramVersion, *apiError) {
	name := strings.TrimSpace(*in.Name)
	if aerr := validateParameterName(name); aerr != nil {
		return nil, aerr
	}
	if matches(s.deny, name, s.ParameterARN(name)) {
		return nil, accessDenied("Message", "ssm:PutParameter", s.ParameterARN(name))
	}
	value := *in.Value
	if value == "" {
		return nil, validationError("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	existing := s.params[name]
	overwrite := in.Overwrite != nil && *in.Overwrite
	if existing != nil && !overwrite {
		return nil, ssmError("ParameterAlreadyExists", "message",
			"The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	if existing != nil && len(in.Tags) > 0 {
		return nil, validationError("tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}

	typ := ""
	if in.Type != nil {
		typ = *in.Type
	}
	switch typ {
	case typeString, typeStringList, typeSecureString:
	case "":
		if existing == nil {
			return nil, validationError("A parameter type is required when you create a parameter.")
		}
		typ = existing.latest().typ
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", typ)
	}

	tier := tierStandard
	if existing != nil {
		tier = existing.latest().tier
	}
	if in.Tier != nil {
		switch *in.Tier {
		case tierStandard:
			if tier == tierAdvanced {
				return nil, validationError("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
			}
		case tierAdvanced:
			tier = tierAdvanced
		case "Intelligent-Tiering":
			if len(value) > maxStandardValue {
				tier = tierAdvanced
			}
		default:
			return nil, validationError("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]", *in.Tier)
		}
	}
	switch {
	case tier == tierStandard && len(value) > maxStandardValue:
		return nil, validationError("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	case len(value) > maxAdvancedValue:
		return nil, validationError("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}

	dataType := "text"
	if in.DataType != nil && *in.DataType != "" {
		dataType = *in.DataType
	}
	switch dataType {
	case "text", "aws:ec2:image", "aws:ssm:integration":
	default:
		return nil, validationError("The following data type is not supported: %s (Data type names are all lowercase.)", dataType)
	}
	if in.AllowedPattern != nil && *in.AllowedPattern != "" {
		re, err := regexp.Compile(*in.AllowedPattern)
		if err != nil {
			return nil, ssmError("InvalidAllowedPatternException", "message", "The allowed pattern is not a valid regular expression: %v", err)
		}
		if !re.MatchString(value) {
			return nil, ssmError("ParameterPatternMismatchException", "message", "Parameter value, cannot be validated against allowedPattern: %s", *in.AllowedPattern)
		}
	}

	v := &paramVersion{typ: typ, value: value, tier: tier, dataType: dataType, modified: s.now()}
	if typ == typeSecureString {
		v.keyID = defaultSSMKeyAlias
		if in.KeyId != nil && *in.KeyId != "" {
			v.keyID = *in.KeyId
		}
		v.ciphertext = fakeCiphertext(len(value))
	}
	if existing == nil {
		existing = &parameter{name: name}
		s.params[name] = existing
		v.version = 1
	} else {
		v.version = existing.latest().version + 1
	}
	if len(existing.versions) == maxParamVersions {
		// Parameter Store deletes the oldest version to make room, but
		// not one that carries a label.
		if oldest := existing.versions[0]; len(oldest.labels) > 0 {
			return nil, ssmError("ParameterMaxVersionLimitExceeded", "message",
				"You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
				name, oldest.version)
		}
		existing.versions = existing.versions[1:]
	}
	existing.versions = append(existing.versions, v)
	return v, nil
}

// fakeCiphertext stands in for the KMS ciphertext blob that GetParameter
// returns for a SecureString read without WithDecryption: base64 of random
// bytes with the KMS blob's version prefix, never containing the plaintext.
func fakeCiphertext(plainLen int) string {
	blob := append([]byte{0x01, 0x02, 0x02, 0x00, 0x78}, randomBytes(plainLen+128)...)
	return base64.StdEncoding.EncodeToString(blob)
}

func (s *Server) ssmPutParameter(body []byte) (any, error) {
	var in ssmPutInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, validationError("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	if in.Value == nil {
		return nil, validationError("1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.putParameter(in)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		Version int64  `json:"Version"`
		Tier    string `json:"Tier"`
	}{v.version, v.tier}, nil
}

// PutParameter stores value as the next version of the named parameter
// (String, or SecureString when secure), creating it if needed, and returns
// the new version number. Seeding bypasses Deny, Throttle and call counting;
// an invalid name or value panics.
func (s *Server) PutParameter(name, value string, secure bool) (version int64) {
	typ := typeString
	if secure {
		typ = typeSecureString
	}
	overwrite := true
	s.mu.Lock()
	defer s.mu.Unlock()
	saved := s.deny
	s.deny = nil
	defer func() { s.deny = saved }()
	v, aerr := s.putParameter(ssmPutInput{Name: &name, Value: &value, Type: &typ, Overwrite: &overwrite})
	if aerr != nil {
		panic("awsemu: PutParameter: " + aerr.Error())
	}
	return v.version
}

// validLabel reports whether Parameter Store accepts label: at most 100
// letters, digits, '.', '-' and '_', not beginning with a digit, "aws" or
// "ssm" (in any case).
var validLabel = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,100}$`)

func labelAccepted(label string) bool {
	lower := strings.ToLower(label)
	return validLabel.MatchString(label) && (label[0] < '0' || label[0] > '9') &&
		!strings.HasPrefix(lower, "aws") && !strings.HasPrefix(lower, "ssm")
}

type ssmLabelInput struct {
	Name             *string
	ParameterVersion *int64
	Labels           []string
}

// labelParameterVersion implements LabelParameterVersion: it attaches
// the labels to one version, moving each from the version that had it;
// labels Parameter Store does not accept are returned, not attached.
// Callers hold s.mu.
func (s *Server) labelParameterVersion(in ssmLabelInput) (version int64, invalid []string, aerr *apiError) {
	switch {
	case in.Name == nil:
		return 0, nil, validationError("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	case in.Labels == nil:
		return 0, nil, validationError("1 validation error detected: Value null at 'labels' failed to satisfy constraint: Member must not be null")
	case len(in.Labels) == 0 || len(in.Labels) > maxVersionLabels:
		return 0, nil, validationError("1 validation error detected: Value '%s' at 'labels' failed to satisfy constraint: Member must have length less than or equal to 10 and Member must have length greater than or equal to 1",
			listForMessage(in.Labels))
	}
	name := *in.Name
	if matches(s.deny, name, s.ParameterARN(name)) {
		return 0, nil, accessDenied("Message", "ssm:LabelParameterVersion", s.ParameterARN(name))
	}
	p := s.params[name]
	if p == nil {
		return 0, nil, ssmError("ParameterNotFound", "message", "")
	}
	v := p.latest()
	if in.ParameterVersion != nil {
		if v = p.version(*in.ParameterVersion); v == nil {
			return 0, nil, ssmError("ParameterVersionNotFound", "message",
				"Systems Manager could not find version %d of %s. Verify the version and try again.", *in.ParameterVersion, name)
		}
	}
	var accepted []string
	for _, l := range in.Labels {
		if !labelAccepted(l) {
			invalid = append(invalid, l)
		} else if !slices.Contains(v.labels, l) && !slices.Contains(accepted, l) {
			accepted = append(accepted, l)
		}
	}
	if len(v.labels)+len(accepted) > maxVersionLabels {
		return 0, nil, ssmError("ParameterVersionLabelLimitExceeded", "message",
			"A parameter version can have a maximum of ten labels.")
	}
	for _, l := range accepted {
		if prev := p.labelled(l); prev != nil {
			prev.labels = slices.DeleteFunc(prev.labels, func(x string) bool { return x == l })
		}
		v.labels = append(v.labels, l)
	}
	return v.version, invalid, nil
}

func (s *Server) ssmLabelParameterVersion(body []byte) (any, error) {
	var in ssmLabelInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	version, invalid, aerr := s.labelParameterVersion(in)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		InvalidLabels    []string `json:"InvalidLabels"`
		ParameterVersion int64    `json:"ParameterVersion"`
	}{append([]string{}, invalid...), version}, nil
}

// LabelParameter attaches labels to version of the named parameter, as
// LabelParameterVersion does, moving each from the version that had it.
func (s *Server) LabelParameter(name string, version int64, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, invalid, aerr := s.labelParameterVersion(ssmLabelInput{Name: &name, ParameterVersion: &version, Labels: labels}); aerr != nil || len(invalid) > 0 {
		panic(fmt.Sprintf("awsemu: LabelParameterVersion: %v, invalid labels %q", aerr, invalid))
	}
}
