package extract

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/creditgate/creditgate/internal/config"
)

// userIDCheck compiles a route's user_id_format into the check every user id passes:
//   - "" (default): 1-128 printable characters, no spaces, valid UTF-8;
//   - "uuid": the canonical lower-case form, 8-4-4-4-12 hex digits;
//   - "uuid4": the same with version 4 and the RFC 4122 variant (8, 9, a or b);
//   - "regexp:RE": RE matches the whole id, at most 128 characters.
//
// uuid and uuid4 are go-playground/validator's tags of the same names, written out:
// the validator reached them through reflection and a regular expression, 2.6 % of
// creditgate's CPU per credited webhook (docs/benchmarks.md). FuzzUserIDFormat holds
// both equal to the validator's.
func userIDCheck(format string) (func(string) bool, error) {
	switch {
	case format == "":
		return defaultUserID, nil
	case format == "uuid":
		return func(s string) bool { return isUUID(s, false) }, nil
	case format == "uuid4":
		return func(s string) bool { return isUUID(s, true) }, nil
	case strings.HasPrefix(format, "regexp:"):
		re, err := regexp.Compile(`^(?:` + strings.TrimPrefix(format, "regexp:") + `)$`)
		if err != nil {
			return nil, fmt.Errorf("user_id_format: %w", err)
		}
		return func(s string) bool {
			return s != "" && utf8.RuneCountInString(s) <= MaxUserIDLength && re.MatchString(s)
		}, nil
	}
	return nil, config.ValidUserIDFormat(format)
}

// defaultUserID: 1-128 printable characters, no spaces, valid UTF-8.
func defaultUserID(s string) bool {
	if s == "" || len(s) > MaxUserIDLength*utf8.UTFMax || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxUserIDLength {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// isUUID reports whether s is xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in lower-case hex;
// with v4, also whether the version digit is 4 and the variant digit one of 8, 9, a, b.
func isUUID(s string, v4 bool) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return !v4 || s[14] == '4' && strings.IndexByte("89ab", s[19]) >= 0
}
