package installer

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
)

// Key orders for the files the installer writes.
var (
	topOrder      = []string{"apiVersion", "kind", "providers"}
	providerOrder = []string{"name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "env", "tokenAttributes"}
)

// object is a map whose keys keep an order when encoded.
type object []member

type member struct {
	key   string
	value any
}

// ordered converts decoded JSON data into objects ordered by order (then
// alphabetically); the elements of "providers" use providerOrder.
func ordered(v any, order []string) any {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		rank := func(k string) int {
			if i := slices.Index(order, k); i >= 0 {
				return i
			}
			return len(order)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if ra, rb := rank(a), rank(b); ra != rb {
				return ra - rb
			}
			return strings.Compare(a, b)
		})
		o := make(object, 0, len(keys))
		for _, k := range keys {
			child := []string(nil)
			if k == "providers" && slices.Equal(order, topOrder) {
				child = providerOrder
			}
			o = append(o, member{k, ordered(v[k], child)})
		}
		return o
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = ordered(e, order)
		}
		return out
	}
	return v
}

// MarshalJSON implements json.Marshaler, keeping the order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// mapSlice converts to YAML's ordered map, with JSON numbers as numbers.
func (o object) mapSlice() yamlv2.MapSlice {
	ms := make(yamlv2.MapSlice, 0, len(o))
	for _, m := range o {
		ms = append(ms, yamlv2.MapItem{Key: m.key, Value: yamlValue(m.value)})
	}
	return ms
}

func yamlValue(v any) any {
	switch v := v.(type) {
	case object:
		return v.mapSlice()
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = yamlValue(e)
		}
		return out
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return string(v)
	}
	return v
}
