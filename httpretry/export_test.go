package httpretry

// Hint is the wait a failed response's headers ask for, from a given now;
// -1: none. For the fuzz target.
var Hint = hint
