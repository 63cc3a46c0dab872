package envbuild

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"django__django-11099": "django__django-11099",
		"Owner.-x__Repo_-1":    "owner-x__repo-1",
		"a___b":                "a-b",
		"--x--":                "x",
		"":                     "x",
		"ä/ö":                  "x",
	} {
		assert.Equal(t, want, slug(in), "slug(%q)", in)
	}
}

func TestWhiteouts(t *testing.T) {
	t.Parallel()
	got := whiteouts([]byte("./opt/venv/lib/old\x00./opt/venv/lib/old/a.py\x00./etc/x\x00"))
	assert.Equal(t, []string{"etc/.wh.x", "opt/venv/lib/.wh.old"}, got)
}

func TestMergeEnv(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"PATH=/x", "A=1=2", "B=2"}, mergeEnv([]string{"PATH=/bin", "A=0"}, []string{"PATH=/x", "A=1=2", "B=2"}))
}
