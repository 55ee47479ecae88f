#!/bin/sh
# Installs tests/deploy's npm tools (Helm, kubernetes-models, ajv) into BUILD/deploy-tools and
# prints where helm is:  tests/deploy/setup-tools.sh [BUILD]   (default: build)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
exec python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
import deploytools
t = deploytools.ensure(sys.argv[2])
if isinstance(t, str):
    sys.exit(t)
print(t.helm)
' "$here" "$build"
