// Command minimal copies stdin to stdout: the floor for a plugin exec.
package main

import (
	"io"
	"os"
)

func main() { io.Copy(os.Stdout, os.Stdin) }
