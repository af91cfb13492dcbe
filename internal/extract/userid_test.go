package extract

import (
	"regexp"
	"strings"
	"testing"

	"github.com/go-playground/validator/v10"
)

// FuzzUserIDFormat holds the compiled user_id_format checks equal to the
// go-playground/validator tags they replace: "required,max=128,uuid",
// "required,max=128,uuid4" and, for a regexp format, "required,max=128" and the
// anchored expression.
func FuzzUserIDFormat(f *testing.F) {
	for _, s := range []string{
		"e747de39-1b54-4cd0-96eb-e68f155931e2", "E747DE39-1B54-4CD0-96EB-E68F155931E2",
		"e747de39-1b54-1cd0-96eb-e68f155931e2", "e747de39-1b54-4cd0-c6eb-e68f155931e2",
		"e747de39-1b54-4cd0-96eb-e68f155931e2\n", "e747de391b544cd096ebe68f155931e2",
		"{e747de39-1b54-4cd0-96eb-e68f155931e2}", "g747de39-1b54-4cd0-96eb-e68f155931e2",
		"", "user42", strings.Repeat("a", 128), strings.Repeat("a", 129),
		strings.Repeat("é", 128), strings.Repeat("é", 129), "a\xffb",
	} {
		f.Add(s)
	}
	const reFormat = `[a-zé0-9_-]+`
	v := validator.New()
	re := regexp.MustCompile(`^(?:` + reFormat + `)$`)
	if err := v.RegisterValidation("cg_userid_re", func(fl validator.FieldLevel) bool {
		return re.MatchString(fl.Field().String())
	}); err != nil {
		f.Fatal(err)
	}
	tags := map[string]string{
		"uuid":               "required,max=128,uuid",
		"uuid4":              "required,max=128,uuid4",
		"regexp:" + reFormat: "required,max=128,cg_userid_re",
	}
	checks := map[string]func(string) bool{}
	for format := range tags {
		c, err := userIDCheck(format)
		if err != nil {
			f.Fatal(err)
		}
		checks[format] = c
	}
	f.Fuzz(func(t *testing.T, s string) {
		for format, tag := range tags {
			want := v.Var(s, tag) == nil
			if got := checks[format](s); got != want {
				t.Errorf("format %q, id %q: compiled check says %v, validator tag %q says %v", format, s, got, tag, want)
			}
		}
	})
}

func TestUserIDCheckRefusesUnknownFormat(t *testing.T) {
	for _, format := range []string{"email", "regexp:(", "UUID"} {
		if _, err := userIDCheck(format); err == nil {
			t.Errorf("userIDCheck(%q) accepted an unknown or broken format", format)
		}
	}
}
