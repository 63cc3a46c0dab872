package export

import (
	"fmt"
	"os"
	"path/filepath"
)

// MarkFile is the file, in a run directory, that remembers what the last export after a run
// was made from, so that a scheduled run that found nothing new leaves the dataset as it is.
const MarkFile = "export.mark"

// Mark is what an export was made from: the record's last transition and the dataset
// directory it was written to.
type Mark struct {
	Transition int64
	Out        string
}

func (m Mark) text() string { return fmt.Sprintf("transition %d\nout %s\n", m.Transition, m.Out) }

// Current reports whether the mark file at path holds m and the dataset it names is still
// there (its manifest): exporting again would write the same dataset.
func (m Mark) Current(path string) bool {
	old, err := os.ReadFile(path)
	if err != nil || string(old) != m.text() {
		return false
	}
	_, err = os.Stat(filepath.Join(m.Out, ManifestName))
	return err == nil
}

// Save writes m to the mark file at path (a temporary file renamed over it).
func (m Mark) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".swemill-mark-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(m.text()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
