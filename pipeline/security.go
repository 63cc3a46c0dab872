package pipeline

// ReasonUnsafePatch is the drop reason of an instance whose patch or test patch the patch
// gate (difftext.CheckPatch) refused, the grading problem of a model patch it refused (the
// patch is not applied, every test fails) and the flag of such a trajectory. It is a
// security reason: the patch tried to reach outside the repository's tree (a symbolic
// link, a path with "..", a file under .git, a device...).
const ReasonUnsafePatch = "unsafe_patch"

// securityReasons are the drop reasons that flag a possible attack rather than a task
// that does not work.
var securityReasons = map[string]bool{ReasonUnsafePatch: true}

// IsSecurityReason reports whether a drop reason (or grading problem, or trajectory flag)
// flags a possible attack: such drops are shown apart by `swemill status` and the report.
func IsSecurityReason(reason string) bool { return securityReasons[reason] }
