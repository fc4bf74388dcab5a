// Package epcistest helps tests check EPCIS documents against the official
// schemas in the shared standards folder. It does not import station/epcis,
// so that package's own tests can use it.
package epcistest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileJSONSchema compiles the EPCIS 2.0 JSON schema from dir (the
// standards folder's epcis-2.0/json-schema), with formats asserted.
func CompileJSONSchema(dir string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseRegexpEngine(schemaRegexp)
	files, _ := filepath.Glob(filepath.Join(dir, "schemas", "*.json"))
	files = append(files, filepath.Join(dir, "EPCIS-Document-JSON-Schema.json"), filepath.Join(dir, "EPCIS-Event-JSON-Schema.json"),
		filepath.Join(dir, "EPCIS-JSON-Schema-root.json"))
	root := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		id := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("add %s: %w", f, err)
		}
		if strings.HasSuffix(f, "EPCIS-JSON-Schema-root.json") {
			root = id
		}
	}
	sch, err := c.Compile(root)
	if err != nil {
		return nil, fmt.Errorf("compile the EPCIS JSON schema: %w", err)
	}
	return sch, nil
}

// lookahead handles the one pattern form of the EPCIS JSON schema that Go's
// regexp lacks, "^(?!(a|b))": a string not starting with a or b.
type lookahead struct {
	src string
	neg *regexp.Regexp
}

func (l lookahead) MatchString(s string) bool { return !l.neg.MatchString(s) }
func (l lookahead) String() string            { return l.src }

func schemaRegexp(s string) (jsonschema.Regexp, error) {
	if strings.HasPrefix(s, "^(?!") && strings.HasSuffix(s, ")") {
		re, err := regexp.Compile("^" + s[len("^(?!"):len(s)-1])
		if err != nil {
			return nil, err
		}
		return lookahead{src: s, neg: re}, nil
	}
	return regexp.Compile(s)
}
