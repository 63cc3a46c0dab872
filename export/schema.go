package export

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// Config (Hub "config_name") names and their directories under data/.
const (
	ConfigTasks        = "tasks"
	ConfigTrajectories = "trajectories"
	ConfigSFT          = "sft"
	ConfigSFTNative    = "sft_native"
)

func str(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}
}

func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// taskColumns are the tasks config's columns in order: SWE-bench's names and types (every
// one a string, FAIL_TO_PASS and PASS_TO_PASS JSON-encoded lists), then the columns its
// harness builds a test spec from (image, log_parser, eval_type, eval_script), then
// swemill's.
var taskColumns = []string{
	"instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement",
	"hints_text", "created_at", "version", "environment_setup_commit",
	"FAIL_TO_PASS", "PASS_TO_PASS",
	"image", "log_parser", "eval_type", "eval_script",
	"image_name", "install_config", "test_cmd", "swemill_log_parser", "log_parser_note", "language", "license",
}

// taskIndex is each task column's index in taskColumns (and in a taskRow).
var taskIndex = func() map[string]int {
	m := make(map[string]int, len(taskColumns))
	for i, c := range taskColumns {
		m[c] = i
	}
	return m
}()

// TaskSchema is the Arrow schema of the tasks config.
var TaskSchema = func() *arrow.Schema {
	fs := make([]arrow.Field, len(taskColumns))
	for i, c := range taskColumns {
		fs[i] = str(c)
	}
	return arrow.NewSchema(fs, nil)
}()

// functionType, toolCallType and messageType are the canonical OpenAI message shape.
var (
	functionType = arrow.StructOf(str("name"), str("arguments"))
	toolCallType = arrow.StructOf(str("id"), str("type"), field("function", functionType))
	messageType  = arrow.StructOf(
		str("role"), str("content"), str("name"), str("tool_call_id"),
		field("tool_calls", arrow.ListOf(toolCallType)),
	)
	textMessageType = arrow.StructOf(str("role"), str("content"))
)

// Trajectory column indexes, in TrajectorySchema order.
const (
	tjTrajectoryID = iota
	tjInstanceID
	tjRepo
	tjRolloutIndex
	tjModel
	tjScaffold
	tjPromptFormat
	tjMessages
	tjTools
	tjModelPatch
	tjResolved
	tjF2PPassed
	tjF2PTotal
	tjP2PPassed
	tjP2PTotal
	tjExitStatus
	tjNumTurns
	tjPromptTokens
	tjCompletionTokens
	tjTemperature
	tjTopP
	tjSeed
	tjCreatedAt
)

// TrajectorySchema is the Arrow schema of the trajectories config.
var TrajectorySchema = arrow.NewSchema([]arrow.Field{
	str("trajectory_id"),
	str("instance_id"),
	str("repo"),
	field("rollout_index", arrow.PrimitiveTypes.Int32),
	str("model"),
	str("scaffold"),
	str("prompt_format"),
	field("messages", arrow.ListOf(messageType)),
	str("tools"),
	str("model_patch"),
	field("resolved", arrow.FixedWidthTypes.Boolean),
	field("f2p_passed", arrow.PrimitiveTypes.Int32),
	field("f2p_total", arrow.PrimitiveTypes.Int32),
	field("p2p_passed", arrow.PrimitiveTypes.Int32),
	field("p2p_total", arrow.PrimitiveTypes.Int32),
	str("exit_status"),
	field("num_turns", arrow.PrimitiveTypes.Int32),
	field("prompt_tokens", arrow.PrimitiveTypes.Int64),
	field("completion_tokens", arrow.PrimitiveTypes.Int64),
	field("temperature", arrow.PrimitiveTypes.Float64),
	field("top_p", arrow.PrimitiveTypes.Float64),
	field("seed", arrow.PrimitiveTypes.Int64),
	field("created_at", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
}, nil)

// SFTSchema is the Arrow schema of the sft config.
var SFTSchema = arrow.NewSchema([]arrow.Field{
	str("trajectory_id"),
	str("instance_id"),
	field("messages", arrow.ListOf(textMessageType)),
}, nil)

// SFTNativeSchema is the Arrow schema of the sft_native config: messages and tools as JSON
// texts (see renderNative).
var SFTNativeSchema = arrow.NewSchema([]arrow.Field{
	str("trajectory_id"),
	str("instance_id"),
	str("messages"),
	str("tools"),
}, nil)

// taskDictionary, trajectoryDictionary and sftNativeDictionary name leaf columns with few distinct values per row group, which
// dictionary encoding shrinks; every other column is plain encoded (dictionary encoding of
// patches and messages only costs time before it falls back).
var (
	taskDictionary = map[string]bool{
		"repo": true, "version": true, "log_parser": true, "language": true, "license": true,
		"swemill_log_parser": true, "eval_type": true, "log_parser_note": true,
		"test_cmd": true,
	}
	trajectoryDictionary = map[string]bool{
		"instance_id": true, "repo": true, "model": true, "scaffold": true, "prompt_format": true,
		"exit_status": true, "role": true, "name": true, "type": true,
	}
	// The tool list is the same for every trajectory of a rollout configuration.
	sftNativeDictionary = map[string]bool{"instance_id": true, "tools": true}
)

// longColumns are leaf columns holding long text: no min/max statistics for them (they
// would copy up to 4 KiB per page into the footer and page index and help no query).
var longColumns = map[string]bool{
	"patch": true, "test_patch": true, "problem_statement": true, "hints_text": true,
	"FAIL_TO_PASS": true, "PASS_TO_PASS": true, "install_config": true, "tools": true,
	"model_patch": true, "content": true, "arguments": true, "eval_script": true,
	"messages": true,
}
