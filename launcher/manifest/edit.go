package manifest

import (
	"bytes"
	"errors"

	"gopkg.in/yaml.v3"
)

// AddEnv adds KEY: REF entries to the manifest's env, replacing
// entries of the same name, or writes a new manifest when there is none.
// An existing manifest is edited as a yaml.v3 node tree, so its other
// entries and its comments stay.
func AddEnv(old []byte, exists bool, keys, refs []string) ([]byte, error) {
	if !exists {
		old = []byte(SchemaModeline + "\nversion: 1\n")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(old, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the manifest is not a mapping")
	}
	root := doc.Content[0]
	var envKey, env *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "env" {
			envKey, env = root.Content[i], root.Content[i+1]
		}
	}
	if env == nil {
		env = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, strNode("env"), env)
	}
	if env.Kind == yaml.ScalarNode && env.Tag == "!!null" {
		*env = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: env.HeadComment, LineComment: env.LineComment, FootComment: env.FootComment}
	}
	if env.Kind != yaml.MappingNode {
		return nil, errors.New("env is not a mapping")
	}
	// Keep the indentation of a block-style env; new entries go in block
	// style, even into a `{}`.
	indent := 2
	if env.Style&yaml.FlowStyle == 0 && len(env.Content) > 0 && envKey != nil && env.Content[0].Column > envKey.Column {
		indent = env.Content[0].Column - envKey.Column
	}
	env.Style &^= yaml.FlowStyle
	for i, key := range keys {
		value := strNode(refs[i])
		replaced := false
		for j := 0; j+1 < len(env.Content); j += 2 {
			if env.Content[j].Value == key {
				value.LineComment = env.Content[j+1].LineComment
				env.Content[j+1] = value
				replaced = true
			}
		}
		if !replaced {
			env.Content = append(env.Content, strNode(key), value)
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
