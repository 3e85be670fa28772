package store

// PrincipalOf is principalOf, for the tests of package store_test.
var PrincipalOf = principalOf
