package station

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linestation/linestation/station/auth"
)

// Role is what a user may do at the station. A user has one or more roles.
type Role string

// Roles (21 CFR Part 11: access by role).
const (
	RoleOperator   Role = "operator"   // runs the line
	RolePacker     Role = "packer"     // aggregates and moves stock
	RoleSupervisor Role = "supervisor" // orders, partial cases, rework, closing orders
	RoleQA         Role = "qa"         // deviations, quarantine release, destruction
	RoleAdmin      Role = "admin"      // users and master data
)

// Roles lists the known roles.
func Roles() []Role {
	return []Role{RoleOperator, RolePacker, RoleSupervisor, RoleQA, RoleAdmin}
}

// Action is something a role may be allowed to do.
type Action string

// Actions checked by the domain.
const (
	ActRunLine      Action = "run the line"
	ActPack         Action = "pack cases and pallets"
	ActMoveStock    Action = "move stock"
	ActManageOrders Action = "manage packaging orders"
	ActManageUsers  Action = "manage users"
	ActManageData   Action = "manage master data"
)

// permissions maps each action to the roles that may do it.
var permissions = map[Action][]Role{
	ActRunLine:      {RoleOperator, RoleSupervisor},
	ActPack:         {RoleOperator, RolePacker, RoleSupervisor},
	ActMoveStock:    {RolePacker, RoleSupervisor, RoleQA},
	ActManageOrders: {RoleSupervisor},
	ActManageUsers:  {RoleAdmin},
	ActManageData:   {RoleAdmin, RoleSupervisor},
}

// Can reports whether any of roles may do a.
func Can(roles []Role, a Action) bool {
	for _, r := range roles {
		if slices.Contains(permissions[a], r) {
			return true
		}
	}
	return false
}

// CentralUser is the user of records that reach the station from the
// central service (products, orders, users), as opposed to a person here.
const CentralUser = "central"

// User is a person's account at the station.
type User struct {
	ID       string `json:"id"`   // unique, never reused: 1 to 64 printable ASCII characters, no spaces
	Name     string `json:"name"` // full name, shown with every signature
	Roles    []Role `json:"roles"`
	Badge    string `json:"badge,omitempty"`    // badge id for sign-in by scan; unique
	Active   bool   `json:"active"`             // inactive users cannot sign in
	Language string `json:"language,omitempty"` // preferred UI language ("en", "de"); "" for the station's
}

// Validate checks the account's fields.
func (u User) Validate() error {
	if u.ID == "" || len(u.ID) > 64 || !isPrintableASCII(u.ID) || strings.ContainsRune(u.ID, ' ') {
		return Errorf(EINVALID, "user id %q must be 1 to 64 printable ASCII characters without spaces", u.ID)
	}
	if u.ID == SystemUser || u.ID == CentralUser {
		return Errorf(EINVALID, "user id %q is reserved for records the station or the central service writes", u.ID)
	}
	if strings.TrimSpace(u.Name) == "" || len(u.Name) > 100 || !isPrintableUTF8(u.Name) {
		return Errorf(EINVALID, "user %s: name must be 1 to 100 printable characters", u.ID)
	}
	if len(u.Roles) == 0 {
		return Errorf(EINVALID, "user %s: no role: give at least one of operator, packer, supervisor, qa, admin", u.ID)
	}
	for i, r := range u.Roles {
		if !slices.Contains(Roles(), r) {
			return Errorf(EINVALID, "user %s: role %q is not operator, packer, supervisor, qa or admin", u.ID, r)
		}
		if slices.Contains(u.Roles[:i], r) {
			return Errorf(EINVALID, "user %s: role %s is listed twice", u.ID, r)
		}
	}
	if u.Badge != "" && (len(u.Badge) > 64 || !isPrintableASCII(u.Badge)) {
		return Errorf(EINVALID, "user %s: badge id must be at most 64 printable ASCII characters", u.ID)
	}
	if u.Language != "" && (len(u.Language) > 16 || !validTemplateName(strings.ToLower(u.Language))) {
		return Errorf(EINVALID, "user %s: language %q is not a language tag such as en or de", u.ID, u.Language)
	}
	return nil
}

// Has reports whether the user has role r.
func (u User) Has(r Role) bool { return slices.Contains(u.Roles, r) }

// CredentialKind says whether a secret is a PIN or a password.
type CredentialKind string

// Credential kinds.
const (
	CredentialPIN      CredentialKind = "pin"      // digits, for the keypad
	CredentialPassword CredentialKind = "password" // any characters
)

// UserRecord is the projection of a user: the account, its credential and
// its sign-in state.
type UserRecord struct {
	User
	Kind       CredentialKind // "" while no credential was set
	Hash       string         // argon2id PHC string; "" while none
	Failures   int            // failed sign-ins (and signatures) since the last success
	Locked     bool
	LockReason string
	Seq        int64 // seq of the event that last changed it
}

// AuthPolicy is how the station authenticates people. The zero value of a
// field means its default.
type AuthPolicy struct {
	// MaxFailures is how many failed attempts in a row lock an account
	// (until an admin unlocks it). Default 5.
	MaxFailures int
	// IdleTimeout is how long a signed-in session may stay untouched before
	// the UI signs it out. Default 5 minutes.
	IdleTimeout time.Duration
	// MinPIN and MinPassword are the shortest secrets accepted. Defaults 6
	// digits and 10 characters.
	MinPIN, MinPassword int
	// Params are the argon2id costs of new hashes (auth.DefaultParams).
	Params auth.Params
}

// WithDefaults returns p with zero fields set to their defaults.
func (p AuthPolicy) WithDefaults() AuthPolicy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 5
	}
	if p.IdleTimeout <= 0 {
		p.IdleTimeout = 5 * time.Minute
	}
	if p.MinPIN <= 0 {
		p.MinPIN = 6
	}
	if p.MinPassword <= 0 {
		p.MinPassword = 10
	}
	return p
}

// CheckSecret checks a new PIN or password against the policy.
func (p AuthPolicy) CheckSecret(kind CredentialKind, secret string) error {
	p = p.WithDefaults()
	switch kind {
	case CredentialPIN:
		if len(secret) < p.MinPIN || len(secret) > 12 {
			return Errorf(EINVALID, "a PIN must have %d to 12 digits", p.MinPIN)
		}
		for i := 0; i < len(secret); i++ {
			if secret[i] < '0' || secret[i] > '9' {
				return Errorf(EINVALID, "a PIN must have digits only")
			}
		}
		if strings.Count(secret, secret[:1]) == len(secret) {
			return Errorf(EINVALID, "a PIN may not repeat one digit only")
		}
	case CredentialPassword:
		if len(secret) < p.MinPassword || len(secret) > 128 {
			return Errorf(EINVALID, "a password must have %d to 128 characters", p.MinPassword)
		}
	default:
		return Errorf(EINVALID, "credential kind %q is neither pin nor password", kind)
	}
	return nil
}

// Session is a signed-in user at the kiosk. The UI signs it out once it was
// idle for the policy's IdleTimeout.
type Session struct {
	User       User
	Started    time.Time // UTC
	LastActive time.Time // UTC
}

// Touch records activity at now.
func (s *Session) Touch(now time.Time) { s.LastActive = now }

// Idle reports whether the session was inactive for longer than timeout.
func (s Session) Idle(now time.Time, timeout time.Duration) bool {
	return now.Sub(s.LastActive) > timeout
}

// UserDefined records a user account, new or changed (roles, badge,
// active). Accounts are never deleted: they are made inactive.
type UserDefined struct {
	User User `json:"user"`
}

// EventType implements Payload.
func (UserDefined) EventType() EventType { return EventUserDefined }

// Validate implements Payload.
func (p UserDefined) Validate() error {
	if err := p.User.Validate(); err != nil {
		return fmt.Errorf("user.defined: %w", err)
	}
	return nil
}

// UserCredentialSet records a user's new PIN or password, as an argon2id
// hash. Setting a credential also clears failures and unlocks the account.
type UserCredentialSet struct {
	User string         `json:"user"`
	Kind CredentialKind `json:"kind"`
	Hash string         `json:"hash"`
}

// EventType implements Payload.
func (UserCredentialSet) EventType() EventType { return EventUserCredentialSet }

// Validate implements Payload.
func (p UserCredentialSet) Validate() error {
	if err := validateUserID(EventUserCredentialSet, p.User); err != nil {
		return err
	}
	if p.Kind != CredentialPIN && p.Kind != CredentialPassword {
		return Errorf(EINVALID, "user.credential_set: kind %q is neither pin nor password", p.Kind)
	}
	if err := auth.Check(p.Hash); err != nil {
		return Errorf(EINVALID, "user.credential_set: %v", err)
	}
	return nil
}

// UserSignedIn records a successful sign-in (or re-authentication).
type UserSignedIn struct {
	User   string `json:"user"`
	Method string `json:"method"` // "id" or "badge"
}

// EventType implements Payload.
func (UserSignedIn) EventType() EventType { return EventUserSignedIn }

// Validate implements Payload.
func (p UserSignedIn) Validate() error {
	if p.Method != "id" && p.Method != "badge" {
		return Errorf(EINVALID, "user.signed_in: method %q is neither id nor badge", p.Method)
	}
	return validateUserID(EventUserSignedIn, p.User)
}

// UserSignInFailed records a failed sign-in or signature attempt. User is
// what was given (an unknown id is recorded as given).
type UserSignInFailed struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (UserSignInFailed) EventType() EventType { return EventUserSignInFailed }

// Validate implements Payload.
func (p UserSignInFailed) Validate() error {
	if err := validateText(EventUserSignInFailed, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateUserID(EventUserSignInFailed, p.User)
}

// UserLocked records that an account was locked.
type UserLocked struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (UserLocked) EventType() EventType { return EventUserLocked }

// Validate implements Payload.
func (p UserLocked) Validate() error {
	if err := validateText(EventUserLocked, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateUserID(EventUserLocked, p.User)
}

// UserUnlocked records that an admin unlocked an account.
type UserUnlocked struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// EventType implements Payload.
func (UserUnlocked) EventType() EventType { return EventUserUnlocked }

// Validate implements Payload.
func (p UserUnlocked) Validate() error {
	if err := validateText(EventUserUnlocked, "reason", p.Reason, 200, true); err != nil {
		return err
	}
	return validateUserID(EventUserUnlocked, p.User)
}

func validateUserID(t EventType, id string) error {
	if id == "" || len(id) > 64 || !isPrintableASCII(id) {
		return Errorf(EINVALID, "%s: user id %q must be 1 to 64 printable ASCII characters", t, id)
	}
	return nil
}

// ErrBadCredentials is the answer to a wrong user id, badge or secret. It
// does not say which was wrong.
var ErrBadCredentials = Errorf(EUNAUTHORIZED, "User, badge or PIN/password is wrong. Try again; repeated failures lock the account.")

// DefineUser records a user account entered at the station by an admin.
func (s *Service) DefineUser(ctx context.Context, admin string, u User) error {
	if _, err := s.authorize(ctx, admin, ActManageUsers); err != nil {
		return err
	}
	return s.defineUser(ctx, admin, u)
}

// ImportUser records a user account that came from the central service.
func (s *Service) ImportUser(ctx context.Context, u User) error {
	return s.defineUser(ctx, CentralUser, u)
}

func (s *Service) defineUser(ctx context.Context, by string, u User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if u.Badge != "" {
		other, err := s.ledger.UserByBadge(ctx, u.Badge)
		if err == nil && other.ID != u.ID {
			return Errorf(ECONFLICT, "badge %s already belongs to user %s", u.Badge, other.ID)
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return fmt.Errorf("define user %s: %w", u.ID, err)
		}
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: UserDefined{User: u}, User: by}); err != nil {
		return fmt.Errorf("define user %s: %w", u.ID, err)
	}
	return nil
}

// SetCredential sets a user's PIN or password. A user may set their own
// (giving the current secret as old); an admin may set anyone's (old is then
// ignored) and thereby unlocks the account.
func (s *Service) SetCredential(ctx context.Context, by, user string, kind CredentialKind, secret, old string) error {
	if err := s.auth.CheckSecret(kind, secret); err != nil {
		return err
	}
	if by == user {
		rec, err := s.ledger.User(ctx, user)
		if err != nil {
			return err
		}
		if rec.Hash != "" {
			if _, err := s.authenticate(ctx, rec, old, "id"); err != nil {
				return err
			}
		}
	} else if _, err := s.authorize(ctx, by, ActManageUsers); err != nil {
		return err
	}
	if _, err := s.ledger.User(ctx, user); err != nil {
		return err
	}
	hash, err := auth.Hash(secret, s.auth.Params)
	if err != nil {
		return fmt.Errorf("set credential of %s: %w", user, err)
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: UserCredentialSet{User: user, Kind: kind, Hash: hash}, User: by}); err != nil {
		return fmt.Errorf("set credential of %s: %w", user, err)
	}
	return nil
}

// ImportCredential records a credential hash that came from the central
// service (an argon2id PHC string).
func (s *Service) ImportCredential(ctx context.Context, user string, kind CredentialKind, hash string) error {
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: UserCredentialSet{User: user, Kind: kind, Hash: hash}, User: CentralUser}); err != nil {
		return fmt.Errorf("import credential of %s: %w", user, err)
	}
	return nil
}

// Unlock unlocks a locked account (admin only).
func (s *Service) Unlock(ctx context.Context, admin, user, reason string) error {
	if _, err := s.authorize(ctx, admin, ActManageUsers); err != nil {
		return err
	}
	if _, err := s.ledger.User(ctx, user); err != nil {
		return err
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: UserUnlocked{User: user, Reason: reason}, User: admin}); err != nil {
		return fmt.Errorf("unlock %s: %w", user, err)
	}
	return nil
}

// SignIn authenticates a person by user id (or, when id is empty, by
// badge) and PIN or password, and records the attempt. Repeated failures
// lock the account (AuthPolicy.MaxFailures).
// Errors: EUNAUTHORIZED for wrong credentials (ErrBadCredentials), a locked
// or inactive account, each with a message that says what to do.
func (s *Service) SignIn(ctx context.Context, id, badge, secret string) (Session, error) {
	var rec UserRecord
	var err error
	method := "id"
	if id == "" {
		method = "badge"
		rec, err = s.ledger.UserByBadge(ctx, badge)
	} else {
		rec, err = s.ledger.User(ctx, id)
	}
	if ErrorCode(err) == ENOTFOUND {
		who := id
		if who == "" {
			who = "badge:" + badge
		}
		if validateUserID(EventUserSignInFailed, who) != nil {
			who = "unknown"
		}
		if _, aerr := s.ledger.Append(ctx, NewEvent{Payload: UserSignInFailed{User: who, Reason: "unknown user or badge"}, User: SystemUser}); aerr != nil {
			return Session{}, fmt.Errorf("record failed sign-in: %w", aerr)
		}
		return Session{}, ErrBadCredentials
	} else if err != nil {
		return Session{}, fmt.Errorf("sign in: %w", err)
	}
	u, err := s.authenticate(ctx, rec, secret, method)
	if err != nil {
		return Session{}, err
	}
	now := s.clock.Now().UTC
	return Session{User: u, Started: now, LastActive: now}, nil
}

// authenticate checks secret against rec and records the outcome: a
// success (which resets the failure count) or a failure (which may lock).
func (s *Service) authenticate(ctx context.Context, rec UserRecord, secret, method string) (User, error) {
	fail := func(reason string, lock bool, answer error) (User, error) {
		evs := []NewEvent{{Payload: UserSignInFailed{User: rec.ID, Reason: reason}, User: rec.ID}}
		if lock {
			evs = append(evs, NewEvent{Payload: UserLocked{User: rec.ID, Reason: fmt.Sprintf("%d failed attempts in a row", rec.Failures+1)}, User: SystemUser})
		}
		if _, err := s.ledger.Append(ctx, evs...); err != nil {
			return User{}, fmt.Errorf("record failed sign-in of %s: %w", rec.ID, err)
		}
		return User{}, answer
	}
	switch {
	case rec.Locked:
		return fail("account locked", false, Errorf(EUNAUTHORIZED, "The account of %s is locked (%s): an administrator must unlock it.", rec.ID, rec.LockReason))
	case !rec.Active:
		return fail("account inactive", false, Errorf(EUNAUTHORIZED, "The account of %s is not active: ask an administrator.", rec.ID))
	case rec.Hash == "":
		return fail("no credential set", false, Errorf(EUNAUTHORIZED, "%s has no PIN or password yet: ask an administrator to set one.", rec.ID))
	}
	ok, err := auth.Verify(rec.Hash, secret)
	if err != nil {
		return User{}, fmt.Errorf("check credential of %s: %w", rec.ID, err)
	}
	if !ok {
		lock := rec.Failures+1 >= s.auth.MaxFailures
		answer := error(ErrBadCredentials)
		if lock {
			answer = Errorf(EUNAUTHORIZED, "Wrong PIN or password %d times: the account of %s is now locked; an administrator must unlock it.", rec.Failures+1, rec.ID)
		}
		return fail("wrong secret", lock, answer)
	}
	if _, err := s.ledger.Append(ctx, NewEvent{Payload: UserSignedIn{User: rec.ID, Method: method}, User: rec.ID}); err != nil {
		return User{}, fmt.Errorf("record sign-in of %s: %w", rec.ID, err)
	}
	return rec.User, nil
}

// authorize returns the user when it exists, is active and not locked, and
// has a role allowed to do a; EUNAUTHORIZED otherwise.
func (s *Service) authorize(ctx context.Context, user string, a Action) (User, error) {
	rec, err := s.ledger.User(ctx, user)
	if ErrorCode(err) == ENOTFOUND {
		return User{}, Errorf(EUNAUTHORIZED, "user %q is not known at this station: sign in first", user)
	} else if err != nil {
		return User{}, fmt.Errorf("check user %s: %w", user, err)
	}
	if !rec.Active || rec.Locked {
		return User{}, Errorf(EUNAUTHORIZED, "the account of %s is not active or is locked", user)
	}
	if !Can(rec.Roles, a) {
		return User{}, Errorf(EUNAUTHORIZED, "%s may not %s: that needs the role %s", user, a, joinRoles(permissions[a]))
	}
	return rec.User, nil
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}
