module github.com/rebound-go/rebound/bench

go 1.26.0

replace github.com/rebound-go/rebound => ../

require (
	github.com/alitto/pond/v2 v2.7.1
	github.com/avast/retry-go/v4 v4.7.0
	github.com/cenkalti/backoff/v5 v5.0.3
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/panjf2000/ants/v2 v2.12.1
	github.com/rebound-go/rebound v0.0.0-00010101000000-000000000000
	github.com/sethvargo/go-retry v0.5.0
	golang.org/x/sync v0.25.0
)

require (
	github.com/benbjohnson/clock v1.3.5 // indirect
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
)
