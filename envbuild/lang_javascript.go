package envbuild

// javascriptBase is the Node.js base: Debian's nodejs, its jest (with babel-jest and
// Babel's env and TypeScript presets, which Debian's node-babel7 carries) and npm for
// online installs. NODE_PATH lets a repository's Babel or Jest configuration find the
// packages Debian installs globally.
var javascriptBase = langBase{
	packages: []string{"nodejs", "jest", "npm", "node-babel7"},
	env: []string{
		"NODE_PATH=/usr/share/nodejs:/usr/lib/nodejs",
		"CI=true",
		"NPM_CONFIG_UPDATE_NOTIFIER=false",
		"NPM_CONFIG_FUND=false",
		"NPM_CONFIG_AUDIT=false",
	},
	setup: `set -eu
mkdir -p /home/swemill/.npm
node --version
jest --version
`,
	check: "node --version && jest --version",
}
