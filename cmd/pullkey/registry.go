package main

import (
	"github.com/pullkey/pullkey/providers"
	"github.com/pullkey/pullkey/providers/acr"
	"github.com/pullkey/pullkey/providers/dockerconfig"
	"github.com/pullkey/pullkey/providers/ecr"
	"github.com/pullkey/pullkey/providers/ghcr"
)

// factories lists every provider pullkey has, in the default order in
// which they are asked. Cloud hosts never overlap; a node-held docker config
// comes first so that an explicit entry wins over ambient identity.
var factories = []providers.Factory{
	dockerconfig.Factory,
	ecr.Factory,
	acr.Factory,
	ghcr.Factory,
}
