package station

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// Meaning is what an electronic signature means (21 CFR 11.50): it is
// shown with the signer's name and the time wherever the signature is.
type Meaning string

// Signature meanings and who may sign them.
const (
	MeaningClosed    Meaning = "closed"             // a supervisor reviewed the reconciliation and closes the order
	MeaningDeviation Meaning = "approved deviation" // QA accepts an explained difference in a reconciliation
	MeaningPartial   Meaning = "approved partial"   // a supervisor accepts a partial case or pallet
	MeaningRework    Meaning = "approved rework"    // a supervisor accepts replacing a damaged pack
	MeaningDestroyed Meaning = "destroyed"          // a pack leaves the supply chain (decommissioned)
	MeaningReleased  Meaning = "released"           // QA releases stock from quarantine
)

// signers maps each meaning to the roles that may sign it.
var signers = map[Meaning][]Role{
	MeaningClosed:    {RoleSupervisor},
	MeaningDeviation: {RoleQA},
	MeaningPartial:   {RoleSupervisor},
	MeaningRework:    {RoleSupervisor},
	MeaningDestroyed: {RoleSupervisor, RoleQA},
	MeaningReleased:  {RoleQA},
}

// Meanings lists the known signature meanings.
func Meanings() []Meaning {
	return []Meaning{MeaningClosed, MeaningDeviation, MeaningPartial, MeaningRework, MeaningDestroyed, MeaningReleased}
}

// SignRequest is what a person gives to sign: who they are again (user id
// and PIN or password: re-authentication at each signing), what the
// signature means, and why.
type SignRequest struct {
	User    string
	Secret  string
	Meaning Meaning
	Reason  string // why; required, at most 200 bytes
}

// SignatureRecorded is an electronic signature, bound to the record it
// signs by that record's SHA-256 (Hash). It is appended in the same
// transaction as the action it allows, so neither exists without the other.
type SignatureRecorded struct {
	Signer  string  `json:"signer"`  // user id
	Name    string  `json:"name"`    // the signer's full name at signing
	Role    Role    `json:"role"`    // the role the signer signed in
	Meaning Meaning `json:"meaning"` // what the signature means
	Reason  string  `json:"reason"`  // why
	Subject string  `json:"subject"` // what is signed, in words, e.g. "close order PO-1"
	Hash    string  `json:"hash"`    // hex SHA-256 of the signed record
}

// EventType implements Payload.
func (SignatureRecorded) EventType() EventType { return EventSignatureRecorded }

// Validate implements Payload.
func (p SignatureRecorded) Validate() error {
	if err := validateUserID(EventSignatureRecorded, p.Signer); err != nil {
		return err
	}
	if !slices.Contains(Meanings(), p.Meaning) {
		return Errorf(EINVALID, "signature.recorded: unknown meaning %q", p.Meaning)
	}
	if !slices.Contains(signers[p.Meaning], p.Role) {
		return Errorf(EINVALID, "signature.recorded: role %q may not sign %q", p.Role, p.Meaning)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"name", p.Name, 100}, {"reason", p.Reason, 200}, {"subject", p.Subject, 200}} {
		if err := validateText(EventSignatureRecorded, f.name, f.v, f.max, true); err != nil {
			return err
		}
	}
	if !isHexHash(p.Hash) {
		return Errorf(EINVALID, "signature.recorded: hash %q is not 64 lower-case hex digits", p.Hash)
	}
	return nil
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// RecordHash returns the hex SHA-256 of v's JSON encoding: what a
// signature is bound to.
func RecordHash(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("hash record: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// sign re-authenticates the signer of req and returns the signature event
// for a record with the given subject and hash. It refuses (EUNAUTHORIZED)
// a missing request, another meaning than want, a signer whose roles may
// not sign it, a missing reason or wrong credentials (which count towards
// the lockout).
func (s *Service) sign(ctx context.Context, req *SignRequest, want Meaning, subject, hash string) (NewEvent, error) {
	if req == nil {
		return NewEvent{}, Errorf(EUNAUTHORIZED, "%s needs an electronic signature (%s) by %s", subject, want, joinRoles(signers[want]))
	}
	if req.Meaning != want {
		return NewEvent{}, Errorf(EUNAUTHORIZED, "%s needs a signature meaning %q, not %q", subject, want, req.Meaning)
	}
	if req.Reason == "" || len(req.Reason) > 200 {
		return NewEvent{}, Errorf(EINVALID, "a signature needs a reason of 1 to 200 characters")
	}
	rec, err := s.ledger.User(ctx, req.User)
	if ErrorCode(err) == ENOTFOUND {
		if _, aerr := s.ledger.Append(ctx, NewEvent{Payload: UserSignInFailed{User: "unknown", Reason: "signature by unknown user"}, User: SystemUser}); aerr != nil {
			return NewEvent{}, fmt.Errorf("record failed signature: %w", aerr)
		}
		return NewEvent{}, ErrBadCredentials
	} else if err != nil {
		return NewEvent{}, fmt.Errorf("sign %s: %w", subject, err)
	}
	var role Role
	for _, r := range signers[want] {
		if rec.Has(r) {
			role = r
			break
		}
	}
	if role == "" {
		return NewEvent{}, Errorf(EUNAUTHORIZED, "%s may not sign %q: that needs the role %s", req.User, want, joinRoles(signers[want]))
	}
	u, err := s.authenticate(ctx, rec, req.Secret, "id")
	if err != nil {
		return NewEvent{}, err
	}
	return NewEvent{Payload: SignatureRecorded{Signer: u.ID, Name: u.Name, Role: role, Meaning: want, Reason: req.Reason,
		Subject: subject, Hash: hash}, User: u.ID}, nil
}
