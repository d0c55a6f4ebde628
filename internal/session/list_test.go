package session

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// loginAs logs in a session of sub with the sign-in details, and returns
// a request with its cookie.
func (f *storeFixture) loginAs(t *testing.T, sub, ua, ip string) *http.Request {
	t.Helper()
	rec := simpleRecord()
	rec.Subject, rec.SID, rec.UserAgent, rec.ClientIP = sub, "op-"+ua, ua, ip
	return f.login(t, rec)
}

func (f *storeFixture) session(t *testing.T, r *http.Request) *sessions.Session {
	t.Helper()
	sess, err := f.store.Get(r, f.store.Name())
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestStoreSessions(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			f := newStoreFixture(t, backend(t, name)(t, 0), 30*time.Minute, 12*time.Hour)
			phone := f.loginAs(t, "alice", "phone", "198.51.100.1")
			f.clock.Add(2 * time.Minute)
			laptop := f.loginAs(t, "alice", "laptop", "198.51.100.2")
			f.clock.Add(2 * time.Minute)
			tablet := f.loginAs(t, "alice", "tablet", "198.51.100.3")
			bob := f.loginAs(t, "bob", "bob's", "203.0.113.9")
			f.clock.Add(2 * time.Minute)
			f.visit(t, phone) // the phone is the most recently active now

			cur := f.session(t, laptop)
			list, err := f.store.Sessions(ctx, "alice", cur)
			if err != nil {
				t.Fatal(err)
			}
			var uas []string
			for _, s := range list {
				uas = append(uas, s.UserAgent)
			}
			if got := strings.Join(uas, " "); got != "phone tablet laptop" {
				t.Fatalf("sessions of alice: %s, want phone tablet laptop (most recent first)", got)
			}
			for _, s := range list {
				if s.Current != (s.UserAgent == "laptop") {
					t.Errorf("%s: Current = %v", s.UserAgent, s.Current)
				}
				if s.ClientIP == "" || s.CreatedAt.IsZero() || s.LastSeen.Before(s.CreatedAt) {
					t.Errorf("%s: %+v, want address and times", s.UserAgent, s)
				}
				if raw, err := base64.RawURLEncoding.DecodeString(s.Handle); err != nil || len(raw) < 16 {
					t.Errorf("%s: handle %q is not 128 bits or more of base64url", s.UserAgent, s.Handle)
				}
			}
			if want := f.clock.Now().Truncate(time.Millisecond); !list[0].LastSeen.Equal(want) {
				t.Errorf("phone last seen %v, want the visit at %v", list[0].LastSeen, want)
			}

			// Handles are stable, opaque, and no credential.
			again, _ := f.store.Sessions(ctx, "alice", nil)
			for i := range list {
				if again[i].Handle != list[i].Handle {
					t.Errorf("handle of %s changed between lists", list[i].UserAgent)
				}
				if again[i].Current {
					t.Errorf("%s is current without a current session", again[i].UserAgent)
				}
			}
			phoneSess := f.session(t, phone)
			c, _ := phone.Cookie(f.store.Name())
			for _, s := range list {
				for _, secret := range []string{phoneSess.ID, storageKey(phoneSess.ID), c.Value} {
					if strings.Contains(s.Handle, secret) || strings.Contains(secret, s.Handle) {
						t.Errorf("handle %q is related to the session id, key or cookie", s.Handle)
					}
				}
				forged := httptest.NewRequest(http.MethodGet, "/", nil)
				forged.AddCookie(&http.Cookie{Name: f.store.Name(), Value: s.Handle})
				if f.visit(t, forged) != nil {
					t.Errorf("a handle works as a cookie")
				}
			}

			// Another user's handle is a wrong handle.
			bobList, _ := f.store.Sessions(ctx, "bob", nil)
			if len(bobList) != 1 {
				t.Fatalf("bob has %d sessions, want 1", len(bobList))
			}
			for _, h := range []string{bobList[0].Handle, "", "nope", list[0].Handle + "x"} {
				if _, ok, err := f.store.EndSession(ctx, "alice", h); err != nil || ok {
					t.Errorf("EndSession(alice, %q) = %v, %v; want false", h, ok, err)
				}
			}
			if f.visit(t, bob) == nil {
				t.Fatal("bob's session ended by alice's request")
			}

			// Ending one session: dead at once, here (cached) and in the
			// backend.
			f.visit(t, tablet) // cached on this instance
			var tabletHandle string
			for _, s := range list {
				if s.UserAgent == "tablet" {
					tabletHandle = s.Handle
				}
			}
			tabletKey := storageKey(f.idOf(t, tablet))
			if _, ok := f.store.cache.entries[tabletKey]; !ok {
				t.Fatal("the tablet's record is not in the decoded cache to begin with")
			}
			info, ok, err := f.store.EndSession(ctx, "alice", tabletHandle)
			if err != nil || !ok || info.UserAgent != "tablet" {
				t.Fatalf("EndSession(tablet) = %+v, %v, %v", info, ok, err)
			}
			if _, ok := f.store.cache.entries[tabletKey]; ok {
				t.Error("the ended session's record is still in the decoded cache")
			}
			for _, ids := range f.store.cookies.entries {
				if ids.key == tabletKey {
					t.Error("the ended session's cookie is still in the cookie cache")
				}
			}
			if f.visit(t, tablet) != nil {
				t.Fatal("the ended session still works")
			}
			if _, ok, _ := f.store.EndSession(ctx, "alice", tabletHandle); ok {
				t.Error("a handle ended twice")
			}

			// Ending the others: only the current one is left.
			n, err := f.store.EndOtherSessions(ctx, "alice", cur)
			if err != nil || n != 1 {
				t.Fatalf("EndOtherSessions = %d, %v; want 1 (the phone)", n, err)
			}
			if f.visit(t, phone) != nil || f.visit(t, laptop) == nil || f.visit(t, bob) == nil {
				t.Fatal("after EndOtherSessions: want only the laptop of alice's, and bob's")
			}
			left, _ := f.store.Sessions(ctx, "alice", cur)
			if len(left) != 1 || !left[0].Current {
				t.Fatalf("after EndOtherSessions: %+v, want the current one", left)
			}
		})
	}
}

// TestStoreSessionsLeaveOutDead: sessions past the store's lifetimes are
// not listed, whatever the backend still holds.
func TestStoreSessionsLeaveOutDead(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), 30*time.Minute, 12*time.Hour)
	f.loginAs(t, "alice", "old", "198.51.100.1")
	f.clock.Add(31 * time.Minute) // idle timeout, by the store's clock
	f.loginAs(t, "alice", "new", "198.51.100.2")
	list, err := f.store.Sessions(context.Background(), "alice", nil)
	if err != nil || len(list) != 1 || list[0].UserAgent != "new" {
		t.Fatalf("sessions = %+v, %v; want only the live one", list, err)
	}
	if _, ok, _ := f.store.EndSession(context.Background(), "alice", f.store.handle("s:nothing")); ok {
		t.Fatal("ended a session that does not exist")
	}
}

// TestStoreCapPerUser: a login beyond the backend's cap ends the least
// recently active session.
func TestStoreCapPerUser(t *testing.T) {
	for _, name := range []string{"bolt", "redis"} {
		t.Run(name, func(t *testing.T) {
			f := newStoreFixture(t, backend(t, name)(t, 2), 30*time.Minute, 12*time.Hour)
			a := f.loginAs(t, "alice", "a", "")
			f.clock.Add(2 * time.Minute)
			b := f.loginAs(t, "alice", "b", "")
			f.clock.Add(2 * time.Minute)
			f.visit(t, a) // b is the least recently active now
			c := f.loginAs(t, "alice", "c", "")
			if f.visit(t, a) == nil || f.visit(t, b) != nil || f.visit(t, c) == nil {
				t.Fatal("want a and c alive, b ended by the cap")
			}
		})
	}
}

// TestLogoutDeletesUnfoundRecord: a logout whose session was not found
// (deleted meanwhile, maybe by a deletion that could not be confirmed)
// deletes the cookie's record again, so that the new deletion confirms it.
func TestLogoutDeletesUnfoundRecord(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	deletes := &deleteCounter{Backend: f.backend}
	f.store.backend = deletes
	r := f.login(t, simpleRecord())
	if err := f.store.Logout(httptest.NewRecorder(), r, f.session(t, r)); err != nil {
		t.Fatal(err)
	}
	anon := f.session(t, r)
	if RecordOf(anon) != nil {
		t.Fatal("session alive after logout")
	}
	w := httptest.NewRecorder()
	if err := f.store.Logout(w, r, anon); err != nil {
		t.Fatal(err)
	}
	if deletes.n != 2 {
		t.Fatalf("%d deletions for two logouts of one cookie, want 2", deletes.n)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("cookies = %v, want the session cookie expired", c)
	}
	// Without a cookie there is nothing to delete.
	if err := f.store.Logout(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/logout", nil), nil); err != nil || deletes.n != 2 {
		t.Fatalf("logout without a cookie: %v, %d deletions", err, deletes.n)
	}
}

type deleteCounter struct {
	Backend
	n int
}

func (d *deleteCounter) Delete(ctx context.Context, key string) error {
	d.n++
	return d.Backend.Delete(ctx, key)
}

func (f *storeFixture) idOf(t *testing.T, r *http.Request) string {
	t.Helper()
	ids, _, ok := f.store.cookieIDs(r, f.store.Name())
	if !ok {
		t.Fatal("no session cookie")
	}
	return ids.id
}

// TestEndedElsewhereLeavesNoCache: a session ended by another instance (a
// back-channel logout there) is dead here at the next request, and from
// then on nothing of it is cached here.
func TestEndedElsewhereLeavesNoCache(t *testing.T) {
	f := newStoreFixture(t, newTestBolt(t), time.Hour, 2*time.Hour)
	r := f.login(t, simpleRecord())
	if f.visit(t, r) == nil {
		t.Fatal("no session")
	}
	key := storageKey(f.idOf(t, r))
	if _, err := f.backend.DeleteSID(context.Background(), "op-1"); err != nil {
		t.Fatal(err)
	}
	if f.visit(t, r) != nil {
		t.Fatal("the session ended elsewhere still works")
	}
	if _, ok := f.store.cache.entries[key]; ok {
		t.Error("its record is still in the decoded cache")
	}
	for _, ids := range f.store.cookies.entries {
		if ids.key == key {
			t.Error("its cookie is still in the cookie cache")
		}
	}
}
