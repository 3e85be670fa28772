// Command urlchild prints the password of a database URL built with
// net/url from $TOKEN, as the URL writes it, for the masking tests.
package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

func main() {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("app", os.Getenv("TOKEN")), Host: "db", Path: "/app"}
	fmt.Println("url.UserPassword:", strings.TrimSuffix(strings.TrimPrefix(u.String(), "postgres://app:"), "@db/app"))
}
