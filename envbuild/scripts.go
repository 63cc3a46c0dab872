package envbuild

import (
	"encoding/base64"
	"strings"

	"swemill/pipeline"
)

// Nothing a recipe says is ever written into a Dockerfile or a script. Environment variables
// go straight into the image configuration (JSON), package names and requirement lists into
// data files, and commands into a base64 environment variable that the constant scripts below
// decode and run. So recipe fields can carry no Dockerfile syntax anywhere, and shell syntax
// only where a field is a shell command by nature (pre_install, install, test_cmd), which
// runs inside a build container or the sandbox.

const libDir = "/usr/local/lib/swemill"

// asUserFunc runs "$@" as the sandbox user, with its home.
const asUserFunc = `as_user() {
	HOME=/home/swemill setpriv --reuid=1000 --regid=1000 --init-groups "$@"
}
`

// captureScript runs the script $1 (with the remaining arguments) and records what it
// changed in the container's file system under /var/tmp/swemill-build: a tar of every file
// and directory it modified or created (by time stamp, one walk of the file system) and the
// list of paths it removed. Removals are looked for where installs write (/opt, /testbed and
// the work directory, /home, /root, /usr/local, /etc), which keeps the walks short; a removal
// elsewhere (apt-get remove in a pre-install command) is not carried into the layer. The
// result becomes an image layer without a commit, which on fuse-overlayfs walks the whole
// file system and costs tens of seconds.
const captureScript = `set -eu
exec 2>&1
export LC_ALL=C
out=/var/tmp/swemill-build
mkdir -p "$out"
cd /
roots=""
for d in ./opt ./testbed ".$SWEMILL_WORKDIR" ./home ./root ./usr/local ./etc; do
	if [ -d "$d" ]; then roots="$roots $d"; fi
done
find $roots -xdev -print0 | sort -zu > "$out/before"
touch "$out/stamp"
(cd "$SWEMILL_WORKDIR" && bash "$@")
cd /
find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp -o -path ./run \
	-o -path ./var/tmp/swemill-build -o -path ./etc/hostname -o -path ./etc/hosts -o -path ./etc/resolv.conf \) \
	-prune -o \( -newer "$out/stamp" -o -cnewer "$out/stamp" \) -print0 > "$out/changed"
find $roots -xdev -print0 | sort -zu > "$out/after"
comm -z -23 "$out/before" "$out/after" > "$out/deleted"
tar --null --no-recursion --numeric-owner --xattrs -T "$out/changed" -cf "$out/layer.tar"
echo "swemill: captured $(tr -cd '\0' < "$out/changed" | wc -c) changed and $(tr -cd '\0' < "$out/deleted" | wc -c) removed paths"
`

// runCommandsScript runs, in the work directory, the pre-install commands as root and then
// the install commands as the sandbox user. $SWEMILL_COMMANDS is "<pre>.<install>", each the
// base64 of NUL-terminated commands. Each list runs in one shell (state such as cd or export
// carries over), echoing each command and stopping at the first failure. Commands cannot
// read their list: their standard input is /dev/null.
const runCommandsScript = `set -eu
` + asUserFunc + `
pre=${SWEMILL_COMMANDS%%.*}
inst=${SWEMILL_COMMANDS#*.}
d=$(mktemp -d)
printf '%s' "$pre" | base64 -d > "$d/pre"
printf '%s' "$inst" | base64 -d > "$d/install"
chmod 755 "$d"; chmod 644 "$d/pre" "$d/install"
cd "$SWEMILL_WORKDIR"
if [ -s "$d/pre" ]; then bash ` + libDir + `/run-list.sh "$d/pre"; fi
if [ -s "$d/install" ]; then as_user bash ` + libDir + `/run-list.sh "$d/install"; fi
rm -rf "$d"
`

// runListScript runs the NUL-terminated commands of the file $1 in one shell.
const runListScript = `set -e
while IFS= read -r -d '' -u 3 swemill_cmd; do
	printf '+ %s\n' "$swemill_cmd"
	eval "$swemill_cmd" </dev/null
done 3< "$1"
`

// envSetupScript installs the Debian packages listed in system-packages.txt (as root), then
// pre-installs requirements.txt into the virtual environment and downloads the modules of
// gomod/go.mod (as the sandbox user), whichever files exist.
const envSetupScript = `set -eu
` + asUserFunc + `
lib=` + libDir + `
if [ -s $lib/env/system-packages.txt ]; then
	apt-get update -qq
	xargs -a $lib/env/system-packages.txt apt-get install -y -qq --no-install-recommends
	rm -rf /var/lib/apt/lists/*
fi
if [ -s $lib/env/requirements.txt ]; then
	as_user python -m pip install -r $lib/env/requirements.txt
fi
if [ -s $lib/env/gomod/go.mod ]; then
	d=$(mktemp -d)
	cp $lib/env/gomod/go.* "$d"/
	chown -R 1000:1000 "$d"
	(cd "$d" && as_user go mod download)
	rm -rf "$d"
fi
`

func nulTerminated(cmds []string) []byte {
	var sb strings.Builder
	for _, c := range cmds {
		sb.WriteString(c)
		sb.WriteByte(0)
	}
	return []byte(sb.String())
}

// commandsArg encodes the recipe's commands for runCommandsScript.
func commandsArg(r pipeline.Recipe) string {
	return base64.StdEncoding.EncodeToString(nulTerminated(r.PreInstall)) + "." +
		base64.StdEncoding.EncodeToString(nulTerminated(r.Install))
}

// libFiles are the files of the env image's library layer: the constant scripts and the
// recipe's data.
func libFiles(r pipeline.Recipe, deps envDepFiles) map[string][]byte {
	files := map[string][]byte{
		"capture.sh":      []byte(captureScript),
		"env-setup.sh":    []byte(envSetupScript),
		"run-commands.sh": []byte(runCommandsScript),
		"run-list.sh":     []byte(runListScript),
		"recipe.json":     []byte(recipeJSON(r) + "\n"),
	}
	if len(r.SystemPackages) > 0 {
		files["env/system-packages.txt"] = []byte(strings.Join(r.SystemPackages, "\n") + "\n")
	}
	if len(deps.requirements) > 0 {
		files["env/requirements.txt"] = deps.requirements
	}
	if len(deps.goMod) > 0 {
		files["env/gomod/go.mod"] = deps.goMod
		if len(deps.goSum) > 0 {
			files["env/gomod/go.sum"] = deps.goSum
		}
	}
	return files
}

// needsSetup says whether the env image needs its setup script run.
func needsSetup(r pipeline.Recipe, deps envDepFiles) bool {
	return len(r.SystemPackages) > 0 || len(deps.requirements) > 0 || len(deps.goMod) > 0
}
