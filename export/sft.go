package export

import (
	"strings"

	"swemill/codeact"
	"swemill/pipeline"
)

// textMessage is one message of the text-protocol rendering.
type textMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// renderText renders t in the OpenHands text function-calling protocol, exactly as the
// rollout stage speaks it (codeact.RenderText): the tools described at the end of the system
// prompt, one <function=NAME>...</function> call per assistant message, tool results as
// "EXECUTION RESULT of [NAME]:" user messages. The in-context example OpenHands can prepend
// to the first user message is not added (as in SWE-Gym's SFT data).
func renderText(t *pipeline.Trajectory, tools string) ([]textMessage, error) {
	var ts []codeact.Tool
	if strings.TrimSpace(tools) != "" {
		var err error
		if ts, err = codeact.ParseToolsJSON([]byte(tools)); err != nil {
			return nil, err
		}
	}
	msgs := codeact.RenderText(t.Messages, ts, codeact.RenderOptions{})
	out := make([]textMessage, len(msgs))
	for i, m := range msgs {
		out[i] = textMessage{Role: m.Role, Content: m.Content}
	}
	return out, nil
}
