package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"swemill/envbuild"
	"swemill/pipeline"
	"swemill/runstore"
)

// recipeOptions are the flags of `swemill recipe`: with repoDir, the recipe of a checkout
// rather than an instance's.
type recipeOptions struct {
	repoDir, name string
}

func newRecipeCmd(a *app) *cobra.Command {
	var o recipeOptions
	cmd := &cobra.Command{
		Use:     "recipe ID | --repo DIR",
		Short:   "Print an instance's stored recipe, or the one a checkout would get, as a spec file",
		GroupID: groupLook,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdRecipe(cmd.Context(), a, args, o)
		},
	}
	cmd.Flags().StringVar(&o.repoDir, "repo", "", "print the recipe the checkout in `DIR` would get (its spec with --name, else the inferred one)")
	cmd.Flags().StringVar(&o.name, "name", "", "with --repo: the repository's `owner/name`; its spec in build.spec_dir wins over inference")
	_ = cmd.MarkFlagDirname("repo")
	return cmd
}

func cmdRecipe(ctx context.Context, a *app, args []string, o recipeOptions) error {
	if o.repoDir == "" {
		if len(args) != 1 || o.name != "" {
			return usagef("recipe takes one instance id (swemill recipe owner__repo-123), or --repo DIR [--name owner/name]")
		}
		return a.storedRecipe(ctx, args[0])
	}
	if len(args) > 0 {
		return usagef("recipe --repo DIR takes no instance id, got %q", args)
	}
	cfg, _, err := a.setup()
	if err != nil {
		return err
	}
	r, from, err := checkoutRecipe(cfg, o.repoDir, o.name)
	if err != nil {
		return err
	}
	return writeRecipe(a.stdout, from, r)
}

// storedRecipe prints the recipe the build stage recorded for an instance.
func (a *app) storedRecipe(ctx context.Context, id string) error {
	store, err := a.readStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := store.Show(ctx, id)
	var nf *runstore.NotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (swemill ls lists them)", err)
	}
	if err != nil {
		return err
	}
	for _, s := range d.Stages {
		if s.Stage != pipeline.StageBuild {
			continue
		}
		if len(s.Output) == 0 {
			why := string(s.State)
			if s.Reason != "" {
				why += " (" + s.Reason + ")"
			}
			return fmt.Errorf("instance %s has no stored recipe: its build is %s; "+
				"swemill recipe --repo DIR --name %s prints what a checkout of it would get", id, why, d.Instance.Repo)
		}
		var env pipeline.Environment
		if err := json.Unmarshal(s.Output, &env); err != nil {
			return fmt.Errorf("decoding the build record of %s: %w", id, err)
		}
		from := fmt.Sprintf("stored by the build stage for %s (generation %d, %s, image %s)", id, s.Generation, s.State, env.ImageName)
		return writeRecipe(a.stdout, from, env.Recipe)
	}
	return fmt.Errorf("instance %s has not reached the build stage", id)
}

// checkoutRecipe returns the recipe the build stage would use for the checkout in dir, as the
// builder chooses it: the explicit spec of repo in build.spec_dir when there is one, else
// the recipe inferred from the files (with build.offline). It also says where it came from.
func checkoutRecipe(cfg *Config, dir, repo string) (pipeline.Recipe, string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return pipeline.Recipe{}, "", usagef("--repo: %s is not a directory", dir)
	}
	specDir := cfg.resolve(cfg.Build.SpecDir)
	if repo != "" {
		if !isRepoName(repo) {
			return pipeline.Recipe{}, "", usagef("--name: %q is not owner/name", repo)
		}
		if specDir != "" {
			path := envbuild.SpecPath(specDir, repo)
			data, err := os.ReadFile(path)
			switch {
			case err == nil:
				r, err := envbuild.ParseSpec(data)
				if err != nil {
					return r, "", fmt.Errorf("%s (the build drops the repository's instances as invalid_recipe): %w", path, err)
				}
				return r, "from the explicit spec " + path, nil
			case !errors.Is(err, fs.ErrNotExist):
				return pipeline.Recipe{}, "", fmt.Errorf("reading recipe spec of %s: %w", repo, err)
			}
		}
	}
	r, err := envbuild.InferRecipe(dir, envbuild.InferOptions{Offline: cfg.Build.Offline})
	if err != nil {
		return r, "", fmt.Errorf("inferring the recipe of %s: %w", dir, err)
	}
	if err := envbuild.ValidateRecipe(r); err != nil {
		return r, "", fmt.Errorf("the recipe inferred from %s is not valid (the build drops it as invalid_recipe): %w", dir, err)
	}
	from := fmt.Sprintf("inferred from %s (build.offline: %v)", dir, cfg.Build.Offline)
	switch {
	case repo != "" && specDir != "":
		from += "; " + envbuild.SpecPath(specDir, repo) + " does not exist"
	case repo == "" && specDir != "":
		from += "; --name owner/name would look for its spec in " + specDir
	}
	return r, from, nil
}

// writeRecipe prints r as a recipe spec file, after a comment saying where it came from.
func writeRecipe(w io.Writer, from string, r pipeline.Recipe) error {
	data, err := recipeYAML(r, specFields())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# recipe %s\n", from)
	_, err = w.Write(data)
	return err
}

// specFields are the keys a recipe spec file may hold: envbuild.Spec's YAML names.
func specFields() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[envbuild.Spec]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// recipeYAML writes a recipe (pipeline.Recipe, or anything shaped like it) in the spec file's
// form: every field its JSON encoding holds, under the same names, in the struct's order, so
// that a field added to the recipe shows up without a change here. Fields that spec files
// cannot hold (not in known) are written as comments, so envbuild.ParseSpec reads the whole
// output back.
func recipeYAML(recipe any, known map[string]bool) ([]byte, error) {
	data, err := json.Marshal(recipe)
	if err != nil {
		return nil, fmt.Errorf("encoding the recipe: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("encoding the recipe: %w", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("encoding the recipe: %T is not a JSON object", recipe)
	}
	plainStyle(&doc)
	fields := doc.Content[0].Content
	spec, other := &yaml.Node{Kind: yaml.MappingNode}, &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(fields); i += 2 {
		dst := spec
		if !known[fields[i].Value] {
			dst = other
		}
		dst.Content = append(dst.Content, fields[i], fields[i+1])
	}
	var b bytes.Buffer
	if len(spec.Content) > 0 {
		if err := encodeYAML(&b, spec); err != nil {
			return nil, err
		}
	}
	if len(other.Content) > 0 {
		var c bytes.Buffer
		if err := encodeYAML(&c, other); err != nil {
			return nil, err
		}
		b.WriteString("# recorded with the recipe; spec files do not take these:\n")
		for _, line := range strings.SplitAfter(strings.TrimRight(c.String(), "\n"), "\n") {
			b.WriteString("# " + strings.TrimSuffix(line, "\n") + "\n")
		}
	}
	return b.Bytes(), nil
}

func encodeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("encoding the recipe: %w", err)
	}
	return enc.Close()
}

// plainStyle drops the JSON look (flow collections, double quotes) from n and its children;
// the encoder still quotes a string that would otherwise read as another type.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}
