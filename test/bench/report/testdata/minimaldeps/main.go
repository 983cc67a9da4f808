// Command minimaldeps copies stdin to stdout while linking (and so
// initialising) the packages pullkey links: the floor for a plugin with
// pullkey's dependencies.
package main

import (
	"io"
	"os"

	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/ecr"
	_ "github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/gofrs/flock"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/go-github/v60/github"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	_ "sigs.k8s.io/yaml"
)

func main() { io.Copy(os.Stdout, os.Stdin) }
