package envbuild

// javaBase is the Java base: Debian's JDK 17 and Maven 3.8, with the JUnit, Surefire and
// Maven plugin artefacts Debian ships in its Maven repository (/usr/share/maven-repo), and
// swemill's Debian Maven mirror (javaMirrorScript, run by swemill-debian-maven) for builds
// that cannot reach Maven Central.
var javaBase = langBase{
	packages: []string{"default-jdk-headless", "maven", "junit4", "junit5", "libsurefire-java",
		"libmaven-compiler-plugin-java", "libmaven-resources-plugin-java", "libmaven-clean-plugin-java",
		"libmaven-enforcer-plugin-java", "libbuild-helper-maven-plugin-java"},
	env: []string{
		"MAVEN_OPTS=-Djava.awt.headless=true",
	},
	setup: `set -eu
mkdir -p /home/swemill/.m2/repository ` + javaMirrorDir + `
cat > ` + javaMirrorDir + `/mirror.py <<'SWEMILL_EOF'
` + javaMirrorScript + `SWEMILL_EOF
cat > /usr/local/bin/swemill-debian-maven <<'SWEMILL_EOF'
` + javaMavenWrapper + `SWEMILL_EOF
chmod 755 /usr/local/bin/swemill-debian-maven
python3 -m py_compile ` + javaMirrorDir + `/mirror.py
java -version
mvn --version
`,
	check: "java -version 2>&1 && mvn --version",
}

// javaMirrorDir holds the Debian Maven mirror in the Java base.
const javaMirrorDir = "/usr/local/lib/swemill/maven"

// javaMavenWrapper is swemill-debian-maven: mvn with every repository mirrored by the Debian
// Maven mirror on the loopback interface, for the install of an offline Java recipe.
const javaMavenWrapper = `#!/bin/bash
# swemill-debian-maven ARGS...: runs mvn ARGS with every repository mirrored by swemill's
# Debian Maven mirror (versions Debian lacks answered with those it has), for builds without
# Maven Central. What it downloads lands in the local repository as from "central", so that
# later offline runs (mvn -o) find it.
set -eu
d=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT
python3 ` + javaMirrorDir + `/mirror.py /usr/share/maven-repo "$d/port" 2>"$d/log" &
pid=$!
for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
[ -s "$d/port" ] || { cat "$d/log" >&2; echo "swemill-debian-maven: the mirror did not start" >&2; exit 1; }
cat > "$d/settings.xml" <<XML
<settings><mirrors><mirror><id>central</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:$(cat "$d/port")/</url></mirror></mirrors></settings>
XML
rc=0
mvn -s "$d/settings.xml" "$@" || rc=$?
sort -u "$d/log" >&2
exit $rc
`

// javaMirrorScript is the Debian Maven mirror: a Python HTTP server on 127.0.0.1 that serves
// /usr/share/maven-repo and answers a version Debian lacks with one it has (the newest of the
// same major version, else the newest, else "debian"), a plugin's descriptor rewritten to
// the version asked for (Maven refuses a plugin whose descriptor names another), checksums
// computed, maven-metadata.xml made from the versions present.
const javaMirrorScript = `"""swemill's Debian Maven mirror: serves /usr/share/maven-repo over HTTP on the loopback
interface, answering a request for a version Debian does not ship with the version it does
(the newest numbered one, else "debian"), so that a project's pinned plugin and dependency
versions resolve offline. Usage: python3 mirror.py REPO PORTFILE; it writes the port it
listens on to PORTFILE and serves until killed. Every substitution is logged on stderr."""
import hashlib, http.server, io, os, re, sys, zipfile

repo = os.path.realpath(sys.argv[1])

def vkey(v):
    parts = re.split(r'[.\-]', v)
    key = []
    for p in parts:
        key.append((0, int(p), '') if p.isdigit() else (-1, 0, p))
    return key

def numbered(v):
    return v[:1].isdigit()

def best(cands, want):
    """The version to serve for want among cands: same major first, newest numbered, else debian."""
    nums = [c for c in cands if numbered(c) and 'SNAPSHOT' not in c]
    if nums:
        major = want.split('.')[0]
        same = [c for c in nums if c.split('.')[0] == major]
        return max(same or nums, key=vkey)
    return 'debian' if 'debian' in cands else (sorted(cands)[-1] if cands else None)

def versions(gdir, a):
    d = os.path.join(gdir, a)
    try:
        return sorted((v for v in os.listdir(d) if os.path.isdir(os.path.join(d, v))), key=vkey)
    except OSError:
        return []

def metadata(path):
    parts = path.split('/')
    if len(parts) >= 3:  # g.../a/maven-metadata.xml
        g, a = '.'.join(parts[:-2]), parts[-2]
        vs = [v for v in versions(os.path.join(repo, *parts[:-2]), a) if v not in ('debian',)]
        if vs:
            nums = [v for v in vs if numbered(v)] or vs
            return ('<?xml version="1.0"?>\n<metadata><groupId>%s</groupId><artifactId>%s</artifactId><versioning>'
                    '<latest>%s</latest><release>%s</release><versions>%s</versions></versioning></metadata>\n' % (
                        g, a, nums[-1], nums[-1], ''.join('<version>%s</version>' % v for v in vs))).encode()
    gdir = os.path.join(repo, *parts[:-1])
    plugins = []
    try:
        for a in sorted(os.listdir(gdir)):
            m = re.fullmatch(r'maven-(.+)-plugin|(.+)-maven-plugin', a)
            if m and versions(gdir, a):
                plugins.append('<plugin><name>%s</name><prefix>%s</prefix><artifactId>%s</artifactId></plugin>' % (a, m.group(1) or m.group(2), a))
    except OSError:
        return None
    if not plugins:
        return None
    return ('<?xml version="1.0"?>\n<metadata><plugins>%s</plugins></metadata>\n' % ''.join(plugins)).encode()

def plugin_version(data, have, want):
    """A plugin jar whose descriptor (META-INF/maven/plugin.xml) says version want, not have:
    Maven refuses a plugin whose descriptor names another version than the one it asked for."""
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        desc = zin.read('META-INF/maven/plugin.xml').decode('utf-8')
    except (KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        return data
    old = '<version>%s</version>' % have
    if old not in desc:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == 'META-INF/maven/plugin.xml':
                body = desc.replace(old, '<version>%s</version>' % want, 1).encode('utf-8')
            zout.writestr(item, body)
    return out.getvalue()

def resolve(path):
    """The bytes to serve for a repository path, or None."""
    if '..' in path.split('/') or path.startswith('/'):
        return None
    checksum = None
    for ext in ('.sha1', '.md5'):
        if path.endswith(ext):
            checksum, path = ext, path[:-len(ext)]
    name = os.path.basename(path)
    if name.startswith('maven-metadata'):
        data = metadata(path)
    else:
        data = None
        full = os.path.join(repo, path)
        if os.path.isfile(full):
            data = open(full, 'rb').read()
        else:
            parts = path.split('/')
            if len(parts) >= 4:
                a, v = parts[-3], parts[-2]
                prefix = a + '-' + v
                if name.startswith(prefix):
                    rest = name[len(prefix):]
                    gdir = os.path.join(repo, *parts[:-3])
                    cands = [c for c in versions(gdir, a) if os.path.isfile(os.path.join(gdir, a, c, a + '-' + c + rest))]
                    c = best(cands, v)
                    if c:
                        sys.stderr.write('swemill-debian-mirror: %s:%s:%s -> %s (%s)\n' % ('.'.join(parts[:-3]), a, v, c, rest.lstrip('.-')))
                        data = open(os.path.join(gdir, a, c, a + '-' + c + rest), 'rb').read()
                        if rest == '.jar':
                            data = plugin_version(data, c, v)
    if data is None or checksum is None:
        return data
    h = hashlib.sha1 if checksum == '.sha1' else hashlib.md5
    return h(data).hexdigest().encode()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self, body=True):
        data = resolve(self.path.split('?')[0].lstrip('/'))
        if data is None:
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self.do_GET(body=False)

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
with open(sys.argv[2] + '.tmp', 'w') as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + '.tmp', sys.argv[2])
srv.serve_forever()
`
