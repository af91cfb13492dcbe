package testkit

import (
	"reflect"
	"time"
)

// FillPlain sets every exported field of the struct v points to, and of the structs
// inside it, to a non-zero plain value: strings "x", integers 7, booleans true, times
// 2026-12-01. Maps, slices and pointers stay nil. A test that compares a hand-written
// encoder with encoding/json on a filled value fails when the type gains a field the
// encoder does not write.
func FillPlain(v any) {
	fill(reflect.ValueOf(v).Elem())
}

func fill(v reflect.Value) {
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}
