package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/linestation/linestation/station/auth"
)

var lightParams = auth.Params{Memory: 64, Time: 1, Threads: 1}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestAuth_HashVerify(t *testing.T) {
	h, err := auth.Hash("246810", lightParams)
	must(t, err)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if ok, err := auth.Verify(h, "246810"); !ok || err != nil {
		t.Fatalf("right secret: %v %v", ok, err)
	}
	if ok, _ := auth.Verify(h, "246811"); ok {
		t.Fatal("a wrong secret verified")
	}
	h2, _ := auth.Hash("246810", lightParams)
	if h2 == h {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if _, err := auth.Verify(bad, "x"); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("Verify(%q): %v, want ErrMalformed", bad, err)
		}
	}
}
