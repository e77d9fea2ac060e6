module github.com/rebound-go/rebound

go 1.26.0

require (
	github.com/benbjohnson/clock v1.3.5
	go.uber.org/goleak v1.3.0
)

require golang.org/x/time v0.16.0
