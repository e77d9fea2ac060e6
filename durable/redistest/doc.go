// Package redistest gives tests a Redis server. It is for tests: those of
// the durable module, of its example, and of programs built on durable. No
// other code should import it.
//
// A test asks for the server's address with Addr, which looks in order for:
//
//   - REBOUND_REDIS_ADDR, when it is set (.ci/run starts a server and sets
//     it);
//   - a redis-server of the test binary's own, when TestMain runs the tests
//     through WithServer and a redis-server binary is on PATH: started by
//     the first Addr, on a free port of 127.0.0.1, in a temporary directory,
//     without persistence; stopped, and its directory removed, when the
//     tests have ended.
//
// When neither is there the test is skipped, unless the environment
// variable CI is set: then the Redis tests must run, and the test fails.
// WithServer counts the tests skipped that way and says so in one line once
// the tests have ended, so that a run which skipped them does not pass in
// silence:
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(redistest.WithServer(m, "durable"))
//	}
//
// Proxy puts a proxy in front of a server that refuses chosen commands, for
// tests of what a client does when Redis says no.
package redistest
