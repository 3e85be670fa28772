package awstest

// AWS Secrets Manager (secretsmanager-2017-10-17): GetSecretValue,
// BatchGetSecretValue, DescribeSecret, CreateSecret, PutSecretValue.

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"

	maxBatchSecrets  = 20
	maxSecretValue   = 65536
	minRequestToken  = 32
	maxRequestToken  = 64
	maxSecretNameLen = 512
)

var smOps = map[string]handlerFunc{
	"GetSecretValue":      (*Server).smGetSecretValue,
	"BatchGetSecretValue": (*Server).smBatchGetSecretValue,
	"DescribeSecret":      (*Server).smDescribeSecret,
	"CreateSecret":        (*Server).smCreateSecret,
	"PutSecretValue":      (*Server).smPutSecretValue,
}

type secret struct {
	name, arn    string
	description  string
	kmsKeyID     string
	tags         []smTag
	created      time.Time
	lastChanged  time.Time
	lastAccessed time.Time
	// deleted is the DeletedDate of a secret scheduled for deletion
	// (DeleteSecret with a recovery window): its value cannot be read
	// until RestoreSecret.
	deleted  time.Time
	versions map[string]*smVersion
}

type smVersion struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
	stages  []string
}

type smTag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

func (v *smVersion) hasStage(stage string) bool {
	for _, st := range v.stages {
		if st == stage {
			return true
		}
	}
	return false
}

func (v *smVersion) sameValue(str *string, bin []byte) bool {
	if (v.str == nil) != (str == nil) || (v.bin == nil) != (bin == nil) {
		return false
	}
	return (str == nil || *v.str == *str) && bytes.Equal(v.bin, bin)
}

func (sec *secret) versionWithStage(stage string) *smVersion {
	for _, v := range sec.versions {
		if v.hasStage(stage) {
			return v
		}
	}
	return nil
}

// moveStage attaches stage to version id, detaching it from any other.
func (sec *secret) moveStage(stage, id string) {
	for _, v := range sec.versions {
		out := v.stages[:0]
		for _, st := range v.stages {
			if st != stage {
				out = append(out, st)
			}
		}
		v.stages = out
	}
	sec.versions[id].stages = append(sec.versions[id].stages, stage)
}

// addVersion stores a new version and moves the staging labels to it. When
// AWSCURRENT moves, the version that had it becomes AWSPREVIOUS.
func (sec *secret) addVersion(id string, str *string, bin []byte, stages []string, now time.Time) *smVersion {
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	v := &smVersion{id: id, str: str, bin: bin, created: now}
	sec.versions[id] = v
	for _, st := range stages {
		if v.hasStage(st) {
			continue
		}
		if st == stageCurrent {
			if prev := sec.versionWithStage(stageCurrent); prev != nil && prev != v {
				sec.moveStage(stagePrevious, prev.id)
			}
		}
		sec.moveStage(st, id)
	}
	sec.lastChanged = now
	return v
}

func (s *Server) smARN(name string) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	suffix := randomBytes(6)
	for i := range suffix {
		suffix[i] = alnum[int(suffix[i])%len(alnum)]
	}
	return fmt.Sprintf("%s%s-%s", s.smARNPrefix(), name, suffix)
}

// smARNPrefix is what a secret's name follows in its ARN.
func (s *Server) smARNPrefix() string {
	return "arn:aws:secretsmanager:" + s.region + ":" + AccountID + ":secret:"
}

// findSecret resolves a SecretId: a name, a full ARN, or a partial ARN (an
// ARN without the six-character random suffix). Callers hold s.mu.
func (s *Server) findSecret(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	if !strings.HasPrefix(id, "arn:") {
		return nil
	}
	for _, sec := range s.secrets {
		if sec.arn == id || s.smARNPrefix()+sec.name == id {
			return sec
		}
	}
	return nil
}

// secretSubjects are the names a Deny / FailDecrypt pattern is matched
// against for a SecretId. Callers hold s.mu.
func (s *Server) secretSubjects(id string, sec *secret) []string {
	if sec != nil {
		return []string{sec.name, sec.arn}
	}
	if strings.HasPrefix(id, s.smARNPrefix()) {
		return []string{id, strings.TrimPrefix(id, s.smARNPrefix())}
	}
	return []string{id}
}

func smNotFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ResourceNotFoundException", msgKey: "Message", message: fmt.Sprintf(format, args...)}
}

func smInvalidParameter(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameterException", msgKey: "Message", message: fmt.Sprintf(format, args...)}
}

func smDenied(action, id string) *apiError {
	return accessDenied("Message", "secretsmanager:"+action, id)
}

func smDecryptionFailure() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "DecryptionFailure", msgKey: "Message",
		message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key."}
}

func smSecretNotFound() *apiError {
	return smNotFound("Secrets Manager can't find the specified secret.")
}

// secretValueEntry is the shape of GetSecretValueResponse and of
// SecretValueEntry in BatchGetSecretValueResponse.
type secretValueEntry struct {
	ARN           string        `json:"ARN"`
	Name          string        `json:"Name"`
	VersionId     string        `json:"VersionId"`
	SecretBinary  *[]byte       `json:"SecretBinary,omitempty"`
	SecretString  *string       `json:"SecretString,omitempty"`
	VersionStages []string      `json:"VersionStages"`
	CreatedDate   *epochSeconds `json:"CreatedDate"`
}

// readSecretValue implements the lookup of GetSecretValue. Callers hold s.mu.
func (s *Server) readSecretValue(action, id string, versionID, stage *string) (*secretValueEntry, *apiError) {
	sec := s.findSecret(id)
	if matches(s.deny, s.secretSubjects(id, sec)...) {
		return nil, smDenied(action, id)
	}
	if sec == nil {
		return nil, smSecretNotFound()
	}
	if !sec.deleted.IsZero() {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidRequestException", msgKey: "Message",
			message: "You can't perform this operation on the secret because it was marked for deletion."}
	}
	var v *smVersion
	switch {
	case versionID != nil:
		v = sec.versions[*versionID]
		if v == nil {
			return nil, smNotFound("Secrets Manager can't find the specified secret value for VersionId: %s", *versionID)
		}
		if stage != nil && !v.hasStage(*stage) {
			return nil, smNotFound("Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", *versionID, *stage)
		}
	default:
		label := stageCurrent
		if stage != nil {
			label = *stage
		}
		v = sec.versionWithStage(label)
		if v == nil {
			return nil, smNotFound("Secrets Manager can't find the specified secret value for staging label: %s", label)
		}
	}
	if matches(s.noDecr, s.secretSubjects(id, sec)...) {
		return nil, smDecryptionFailure()
	}
	if matches(s.noKMS, s.secretSubjects(id, sec)...) {
		return nil, &apiError{status: http.StatusBadRequest, code: "AccessDeniedException", msgKey: "Message", message: "Access to KMS is not allowed"}
	}
	now := s.now().UTC()
	sec.lastAccessed = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	e := &secretValueEntry{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionId:     v.id,
		VersionStages: append([]string{}, v.stages...),
		CreatedDate:   epoch(v.created),
	}
	if v.str != nil {
		str := *v.str
		e.SecretString = &str
	}
	if v.bin != nil {
		bin := append([]byte{}, v.bin...)
		e.SecretBinary = &bin
	}
	return e, nil
}

func (s *Server) smGetSecretValue(body []byte) (any, error) {
	var in struct {
		SecretId     *string
		VersionId    *string
		VersionStage *string
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == nil {
		return nil, validationError("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, aerr := s.readSecretValue("GetSecretValue", *in.SecretId, in.VersionId, in.VersionStage)
	if aerr != nil {
		return nil, aerr
	}
	return e, nil
}

type smAPIError struct {
	SecretId  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

func (s *Server) smBatchGetSecretValue(body []byte) (any, error) {
	var in struct {
		SecretIdList []string
		Filters      []struct {
			Key    *string
			Values []string
		}
		MaxResults *int
		NextToken  *string
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 {
		return nil, validationError("awsemu: BatchGetSecretValue Filters are not emulated; use SecretIdList")
	}
	if in.SecretIdList == nil {
		return nil, smInvalidParameter("You must provide either SecretIdList or Filters.")
	}
	if len(in.SecretIdList) == 0 {
		return nil, validationError("1 validation error detected: Value '[]' at 'secretIdList' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.SecretIdList) > maxBatchSecrets {
		return nil, validationError("1 validation error detected: Value '%s' at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to %d",
			listForMessage(in.SecretIdList), maxBatchSecrets)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := struct {
		SecretValues []*secretValueEntry `json:"SecretValues"`
		Errors       []smAPIError        `json:"Errors"`
	}{SecretValues: []*secretValueEntry{}, Errors: []smAPIError{}}
	seen := map[string]bool{}
	for _, id := range in.SecretIdList {
		if seen[id] {
			continue
		}
		seen[id] = true
		e, aerr := s.readSecretValue("GetSecretValue", id, nil, nil)
		if aerr != nil {
			out.Errors = append(out.Errors, smAPIError{SecretId: id, ErrorCode: aerr.code, Message: aerr.message})
			continue
		}
		out.SecretValues = append(out.SecretValues, e)
	}
	return out, nil
}

func (s *Server) smDescribeSecret(body []byte) (any, error) {
	var in struct{ SecretId *string }
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == nil {
		return nil, validationError("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.findSecret(*in.SecretId)
	if matches(s.deny, s.secretSubjects(*in.SecretId, sec)...) {
		return nil, smDenied("DescribeSecret", *in.SecretId)
	}
	if sec == nil {
		return nil, smSecretNotFound()
	}
	out := struct {
		ARN                string              `json:"ARN"`
		Name               string              `json:"Name"`
		Description        string              `json:"Description,omitempty"`
		KmsKeyId           string              `json:"KmsKeyId,omitempty"`
		LastChangedDate    *epochSeconds       `json:"LastChangedDate,omitempty"`
		LastAccessedDate   *epochSeconds       `json:"LastAccessedDate,omitempty"`
		Tags               []smTag             `json:"Tags,omitempty"`
		VersionIdsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
		CreatedDate        *epochSeconds       `json:"CreatedDate"`
	}{
		ARN:             sec.arn,
		Name:            sec.name,
		Description:     sec.description,
		KmsKeyId:        sec.kmsKeyID,
		LastChangedDate: epoch(sec.lastChanged),
		Tags:            sec.tags,
		CreatedDate:     epoch(sec.created),
	}
	if !sec.lastAccessed.IsZero() {
		out.LastAccessedDate = epoch(sec.lastAccessed)
	}
	for id, v := range sec.versions {
		// Versions without staging labels are deprecated and not listed.
		if len(v.stages) > 0 {
			if out.VersionIdsToStages == nil {
				out.VersionIdsToStages = map[string][]string{}
			}
			out.VersionIdsToStages[id] = append([]string{}, v.stages...)
		}
	}
	return out, nil
}

func validateRequestToken(tok *string) *apiError {
	if tok == nil {
		return nil
	}
	switch n := len(*tok); {
	case n < minRequestToken:
		return validationError("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to %d", *tok, minRequestToken)
	case n > maxRequestToken:
		return validationError("1 validation error detected: Value '%s' at 'clientRequestToken' failed to satisfy constraint: Member must have length less than or equal to %d", *tok, maxRequestToken)
	}
	return nil
}

func validateSecretValue(str *string, bin []byte) *apiError {
	if str != nil && bin != nil {
		return smInvalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if str != nil && len(*str) > maxSecretValue {
		return validationError("1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to %d", maxSecretValue)
	}
	if len(bin) > maxSecretValue {
		return validationError("1 validation error detected: Value at 'secretBinary' failed to satisfy constraint: Member must have length less than or equal to %d", maxSecretValue)
	}
	return nil
}

func validSecretName(name string) bool {
	if name == "" || len(name) > maxSecretNameLen {
		return false
	}
	for _, c := range name {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.ContainsRune("/_+=.@-", c)) {
			return false
		}
	}
	return true
}

type smCreateInput struct {
	Name               *string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretBinary       []byte
	SecretString       *string
	Tags               []smTag
}

// createSecret implements CreateSecret. Callers hold s.mu.
func (s *Server) createSecret(in smCreateInput) (sec *secret, v *smVersion, aerr *apiError) {
	name := *in.Name
	if !validSecretName(name) {
		return nil, nil, validationError("Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if matches(s.deny, name) {
		return nil, nil, smDenied("CreateSecret", name)
	}
	if aerr := validateRequestToken(in.ClientRequestToken); aerr != nil {
		return nil, nil, aerr
	}
	if aerr := validateSecretValue(in.SecretString, in.SecretBinary); aerr != nil {
		return nil, nil, aerr
	}
	hasValue := in.SecretString != nil || in.SecretBinary != nil
	if existing := s.secrets[name]; existing != nil {
		// A retried CreateSecret with the same token and value is a no-op.
		if in.ClientRequestToken != nil && hasValue {
			if ev := existing.versions[*in.ClientRequestToken]; ev != nil && ev.sameValue(in.SecretString, in.SecretBinary) {
				return existing, ev, nil
			}
		}
		return nil, nil, &apiError{status: http.StatusBadRequest, code: "ResourceExistsException", msgKey: "Message",
			message: fmt.Sprintf("The operation failed because the secret %s already exists.", name)}
	}
	now := s.now()
	sec = &secret{name: name, arn: s.smARN(name), created: now, lastChanged: now, versions: map[string]*smVersion{}, tags: in.Tags}
	if in.Description != nil {
		sec.description = *in.Description
	}
	if in.KmsKeyId != nil {
		sec.kmsKeyID = *in.KmsKeyId
	}
	if hasValue {
		id := newUUID()
		if in.ClientRequestToken != nil {
			id = *in.ClientRequestToken
		}
		v = sec.addVersion(id, in.SecretString, in.SecretBinary, nil, now)
	}
	s.secrets[name] = sec
	return sec, v, nil
}

func (s *Server) smCreateSecret(body []byte) (any, error) {
	var in smCreateInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.Name == nil {
		return nil, validationError("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, v, aerr := s.createSecret(in)
	if aerr != nil {
		return nil, aerr
	}
	out := struct {
		ARN       string `json:"ARN"`
		Name      string `json:"Name"`
		VersionId string `json:"VersionId,omitempty"`
	}{ARN: sec.arn, Name: sec.name}
	if v != nil {
		out.VersionId = v.id
	}
	return out, nil
}

type smPutInput struct {
	SecretId           *string
	ClientRequestToken *string
	SecretBinary       []byte
	SecretString       *string
	VersionStages      []string
}

// putSecretValue implements PutSecretValue. Callers hold s.mu.
func (s *Server) putSecretValue(in smPutInput) (*secret, *smVersion, *apiError) {
	sec := s.findSecret(*in.SecretId)
	if matches(s.deny, s.secretSubjects(*in.SecretId, sec)...) {
		return nil, nil, smDenied("PutSecretValue", *in.SecretId)
	}
	if sec == nil {
		return nil, nil, smSecretNotFound()
	}
	if aerr := validateRequestToken(in.ClientRequestToken); aerr != nil {
		return nil, nil, aerr
	}
	if in.SecretString == nil && in.SecretBinary == nil {
		return nil, nil, smInvalidParameter("You must provide either SecretString or SecretBinary.")
	}
	if aerr := validateSecretValue(in.SecretString, in.SecretBinary); aerr != nil {
		return nil, nil, aerr
	}
	for _, st := range in.VersionStages {
		if st == "" || len(st) > 256 {
			return nil, nil, validationError("1 validation error detected: Value '%s' at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 256", st)
		}
	}
	id := newUUID()
	if in.ClientRequestToken != nil {
		id = *in.ClientRequestToken
		if ev := sec.versions[id]; ev != nil {
			if ev.sameValue(in.SecretString, in.SecretBinary) {
				return sec, ev, nil // idempotent retry
			}
			return nil, nil, &apiError{status: http.StatusBadRequest, code: "ResourceExistsException", msgKey: "Message",
				message: "You can't modify an existing version, you can only create a new version."}
		}
	}
	v := sec.addVersion(id, in.SecretString, in.SecretBinary, in.VersionStages, s.now())
	return sec, v, nil
}

func (s *Server) smPutSecretValue(body []byte) (any, error) {
	var in smPutInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == nil {
		return nil, validationError("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, v, aerr := s.putSecretValue(in)
	if aerr != nil {
		return nil, aerr
	}
	return struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionId     string   `json:"VersionId"`
		VersionStages []string `json:"VersionStages"`
	}{sec.arn, sec.name, v.id, append([]string{}, v.stages...)}, nil
}

// PutSecretString stores value as a new AWSCURRENT version of the named
// secret, creating the secret if needed, and returns the version id. The
// previous AWSCURRENT version becomes AWSPREVIOUS. Seeding bypasses Deny,
// Throttle and call counting.
func (s *Server) PutSecretString(name, value string) (versionID string) {
	return s.seedSecret(name, &value, nil)
}

// PutSecretBinary is PutSecretString for a SecretBinary value.
func (s *Server) PutSecretBinary(name string, b []byte) (versionID string) {
	if b == nil {
		b = []byte{}
	}
	return s.seedSecret(name, nil, append([]byte(nil), b...))
}

func (s *Server) seedSecret(name string, str *string, bin []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !validSecretName(name) {
		panic(fmt.Sprintf("awsemu: invalid secret name %q", name))
	}
	sec := s.secrets[name]
	if sec == nil {
		now := s.now()
		sec = &secret{name: name, arn: s.smARN(name), created: now, lastChanged: now, versions: map[string]*smVersion{}}
		s.secrets[name] = sec
	}
	return sec.addVersion(newUUID(), str, bin, nil, s.now()).id
}

// StageSecretString adds value to the named secret as a new version with
// the given staging labels, as PutSecretValue with VersionStages does (a
// rotation function's createSecret step stages AWSPENDING so), and
// returns its version id. A label moves from the version that had it;
// AWSCURRENT's old version becomes AWSPREVIOUS. Seeding bypasses Deny,
// Throttle and call counting.
func (s *Server) StageSecretString(name, value string, stages ...string) (versionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		panic(fmt.Sprintf("awsemu: no secret %q", name))
	}
	return sec.addVersion(newUUID(), &value, nil, stages, s.now()).id
}

// MoveStage attaches stage to the named secret's version versionID, as
// UpdateSecretVersionStage with MoveToVersionId does (a rotation
// function's finishSecret step moves AWSCURRENT to the AWSPENDING
// version so, then removes AWSPENDING with RemoveStage): when AWSCURRENT
// moves, the version that had it becomes AWSPREVIOUS.
func (s *Server) MoveStage(name, stage, versionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil || sec.versions[versionID] == nil {
		panic(fmt.Sprintf("awsemu: no version %q of secret %q", versionID, name))
	}
	if stage == stageCurrent {
		if prev := sec.versionWithStage(stageCurrent); prev != nil && prev.id != versionID {
			sec.moveStage(stagePrevious, prev.id)
		}
	}
	sec.moveStage(stage, versionID)
	sec.lastChanged = s.now()
}

// RemoveStage detaches stage from the named secret's versions, as
// UpdateSecretVersionStage with RemoveFromVersionId alone does.
func (s *Server) RemoveStage(name, stage string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		panic(fmt.Sprintf("awsemu: no secret %q", name))
	}
	for _, v := range sec.versions {
		out := v.stages[:0]
		for _, st := range v.stages {
			if st != stage {
				out = append(out, st)
			}
		}
		v.stages = out
	}
}

// ScheduleDeletion schedules the named secret for deletion, as
// DeleteSecret with a recovery window does: reading its value fails with
// InvalidRequestException until the window ends (never, here).
func (s *Server) ScheduleDeletion(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		panic(fmt.Sprintf("awsemu: no secret %q", name))
	}
	sec.deleted = s.now()
}

// SecretARN returns the full ARN (with its random suffix) of the named
// secret, or "" if there is no such secret.
func (s *Server) SecretARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		return sec.arn
	}
	return ""
}
