package gs1

import (
	"fmt"
	"strings"
)

// Error says what is wrong with GS1 data and where: the AI concerned, the
// byte position in the input, and the rule that was broken. The UI and the
// CLI show Error(); programs can branch on Rule and Lint.
type Error struct {
	AI    string   // the AI concerned, without brackets; "" when the fault is not in one AI
	Value string   // the AI's value as read, when the fault is in a value
	Pos   int      // byte offset in the input, counting from 0; -1 when it has no place
	Rule  string   // short rule name, e.g. "syntax", "length", "linter:yymmd0", "requisite", "exclusive", "repeat", "dl-path"
	Lint  LintCode // the linter's finding when Rule is a linter, else ""
	Msg   string   // what is wrong, in English
	// Markup shows the bad part of the value between bars, as the GS1
	// engine does: "(8001)1|X|34". Only set for linter findings.
	Markup string
}

// Error formats the finding for a person, e.g.
// `AI (17): "991332" has an illegal month "13" (linter yymmd0) at position 21`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.AI != "" {
		fmt.Fprintf(&b, "AI (%s): ", e.AI)
	}
	b.WriteString(e.Msg)
	if e.Pos >= 0 {
		fmt.Fprintf(&b, " at position %d", e.Pos)
	}
	return b.String()
}

func errAt(pos int, rule, format string, args ...any) *Error {
	return &Error{Pos: pos, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func errAI(ai string, pos int, rule, format string, args ...any) *Error {
	return &Error{AI: ai, Pos: pos, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}
