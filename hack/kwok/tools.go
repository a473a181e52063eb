//go:build tools

// Package tools pins kwok, the node and pod simulator of bench/scale.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
