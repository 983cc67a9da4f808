package main

const helpText = `pullkey - a kubelet image credential provider for ECR, ACR and GHCR

pullkey lets pods pull private images without imagePullSecrets: the node
proves who it is (IAM role, managed identity, GitHub App or a node-held
token), and pullkey turns that into a short-lived registry credential.

HOW KUBELET RUNS IT
  kubelet is started with
    --image-credential-provider-config=<CredentialProviderConfig file>
    --image-credential-provider-bin-dir=<dir holding pullkey>
  and, for each image whose host matches the config's matchImages, runs
    pullkey [get-credentials] [flags]
  with a CredentialProviderRequest (credentialprovider.kubelet.k8s.io/v1)
  on stdin, and reads a CredentialProviderResponse from stdout. Errors go to
  stderr as one line (kubelet logs it) with exit code 1. An image that no
  enabled provider owns gets an empty answer, so public images still pull.

  By hand:
    echo '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1",
           "kind":"CredentialProviderRequest",
           "image":"123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app"}' \
      | pullkey --config /etc/pullkey/config.yaml

COMMANDS
  get-credentials   answer one kubelet request (the default)
  match-images      print the kubelet matchImages the enabled providers
                    claim (--config FILE, -o text|json)
  install           install pullkey on a node: binary, pullkey config and
                    its entry merged into kubelet's CredentialProviderConfig
                    (--host-root DIR, --platform kubeadm|capi|eks|aks|k3s|
                    rke2|kops|generic, --bin-dir, --provider-config FILE|DIR/,
                    --pullkey-config, --pullkey-config-from, --match-images,
                    --secret-file SRC=/node/path (repeatable, written 0600),
                    --default-cache-duration, --configure-kubelet,
                    --restart-kubelet, --restart-command, --dry-run);
                    a second run changes nothing. With a host root other
                    than /, the restart command runs chroot-ed into it.
                    See the README, section Install.
  uninstall         undo exactly what install added (--host-root DIR,
                    --restart-kubelet, --restart-command, --platform for
                    the restart preset, --dry-run)
  pause             wait until stopped (the DaemonSet's keep-alive container)
  version           print the version
  help              print this help

FLAGS (get-credentials; a flag overrides the config file)
  --config FILE     pullkey's config (YAML or JSON, kind PullkeyConfig).
                    Without one, ecr and acr run on the node's identity;
                    ghcr and dockerconfig need a config section.
  --cache-dir DIR   disk cache directory (default /var/lib/pullkey; created
                    0700, entries 0600). Credentials are reused by every
                    pullkey process on the node until 10 minutes before
                    they expire.
  --no-cache        do not use the disk cache
  --timeout D       deadline for the whole invocation (default 30s, at most
                    55s; kubelet kills the plugin at 60s)
  --log-level L     debug, info, warn (default) or error; logs go to stderr
  -v                same as --log-level debug
  -h, --help        print this help

Documentation: README.md in the pullkey repository.
`
