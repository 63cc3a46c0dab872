package main

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/rs/zerolog"
)

// TestEveryKnobReachesItsStage sets every field of the configuration file and checks that
// each stage's configuration comes out with every field set: a field a package adds is
// either wired to the file or listed here with the reason it is not the file's.
func TestEveryKnobReachesItsStage(t *testing.T) {
	var cfg Config
	n := 0
	fillFields(reflect.ValueOf(&cfg).Elem(), &n)
	cfg.baseDir, cfg.runDir = "/base", "/run"
	env := wiringEnv{cfg: &cfg, getenv: func(k string) string { return "from-env-" + k }, log: zerolog.Nop(), worker: "worker-1"}

	cases := []struct {
		name        string
		got         any
		notFromFile map[string]string
	}{
		{"mine", env.mineConfig(), map[string]string{
			"WebHosts":   "the hosts of GitHub's web pages: derived by mine from BaseURL",
			"HTTPClient": "a test's transport",
			"GitURL":     "a test's clone addresses",
			"Clock":      "a test's clock",
		}},
		{"build", env.builderConfig(map[string]string{"python": "py-base", "go": "go-base"}), map[string]string{
			"WorkDir":      "scratch space: the cache directory's by default",
			"LogTailBytes": "how much of a failed build's log an error quotes: not a run's setting",
			"Sources.Dir":  "the shared bare clones: under the cache directory",
		}},
		{"base", env.baseConfig(), map[string]string{
			"Suite":    "the base images' content is swemill's (their names hash it), not a run's",
			"Packages": "the base images' content is swemill's (their names hash it), not a run's",
			"GoRoot":   "the base images' content is swemill's (their names hash it), not a run's",
			"SkipGo":   "tests' shortcut",
			"Timeout":  "bounds `swemill base build`, not a run",
		}},
		{"sandbox", env.sandboxConfig(), map[string]string{
			"User":           "each use's: validate and grading take it from the recipe",
			"CapAdd":         "each use's: validate and grading take it from the recipe",
			"Network":        "never the file's: repository code runs with no network",
			"OutputLimit":    "each use's: how much output it keeps for people",
			"CleanupTimeout": "internal: how long removing a container may take",
			"DiskPoll":       "internal: how often the disk watchdog measures",
		}},
		{"validate", env.validateConfig(), map[string]string{
			"Labels": "container labels the wiring adds through the sandbox instead",
		}},
		{"rollout", env.rolloutConfig(), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var unset []string
			unsetFields(reflect.ValueOf(c.got), "", &unset)
			var lost []string
			for _, f := range unset {
				if c.notFromFile[f] == "" {
					lost = append(lost, f)
				}
			}
			if len(lost) > 0 {
				t.Errorf("%s: no field of swemill.yaml reaches %v: wire it in cmd/swemill, or list it here with the reason", c.name, lost)
			}
			for f := range c.notFromFile {
				found := false
				for _, u := range unset {
					found = found || u == f
				}
				if !found {
					t.Errorf("%s.%s is listed as not the file's, but the file sets it now: remove it from the list", c.name, f)
				}
			}
		})
	}
}

// fillFields gives every exported field of v a value that is not its zero (distinct numbers
// and strings), recursing into structs.
func fillFields(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillFields(v.Field(i), n)
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillFields(s.Index(0), n)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillFields(k, n)
		fillFields(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		panic(fmt.Sprintf("fillFields: no value for a %s", v.Type()))
	}
}

// unsetFields appends the paths of v's exported fields that hold their zero value.
func unsetFields(v reflect.Value, prefix string, out *[]string) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name := prefix + f.Name
		if fv := v.Field(i); fv.Kind() == reflect.Struct {
			unsetFields(fv, name+".", out)
		} else if fv.IsZero() {
			*out = append(*out, name)
		}
	}
	sort.Strings(*out)
}
