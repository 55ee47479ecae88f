// Validates rendered manifests (a multi-document YAML file, `helm template` output) offline:
// built-in kinds and prometheus-operator's against their schemas (kubernetes-models), and the
// NetworkAttachmentDefinition against its CRD's openAPIV3Schema (ajv, nad-crd-schema.json).
//
//   node validate.mjs MANIFESTS.yaml      prints one line per object; exit 1 on any invalid one
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// The model module of apiVersion + kind: kubernetes-models names core "v1" as "v1", other groups
// as "<group>/<version>".
async function loadModel(apiVersion, kind) {
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator"
    : "kubernetes-models";
  const mod = await import(`${pkg}/${apiVersion}/${kind}`);
  return mod[kind];
}

const nadSchema = JSON.parse(readFileSync(join(here, "nad-crd-schema.json"), "utf8"));
const ajv = new Ajv({ allErrors: true, strict: false });
const validateNad = ajv.compile(nadSchema);

// The NAD's spec.config is the CNI network configuration: it must at least be a JSON object
// with cniVersion, name and type (Multus refuses it otherwise).
function checkNadConfig(obj) {
  const conf = JSON.parse(obj.spec.config);
  for (const key of ["cniVersion", "name", "type"]) {
    if (typeof conf[key] !== "string") throw new Error(`spec.config: ${key} missing`);
  }
  if (conf.name !== obj.metadata.name) throw new Error("spec.config: name is not the NAD's");
}

const docs = parseAllDocuments(readFileSync(process.argv[2], "utf8"));
let failures = 0;
let count = 0;
for (const doc of docs) {
  if (doc.errors.length) {
    console.log(`YAML error: ${doc.errors[0].message}`);
    failures++;
    continue;
  }
  const obj = doc.toJS();
  if (obj === null) continue;
  count++;
  const id = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`;
  try {
    if (obj.kind === "NetworkAttachmentDefinition") {
      if (!validateNad(obj)) throw new Error(ajv.errorsText(validateNad.errors));
      checkNadConfig(obj);
    } else {
      const Model = await loadModel(obj.apiVersion, obj.kind);
      new Model(obj).validate();
    }
    console.log(`valid   ${id}`);
  } catch (e) {
    console.log(`INVALID ${id}: ${e.message}`);
    failures++;
  }
}
console.log(`${count} objects, ${failures} invalid`);
process.exit(failures === 0 && count > 0 ? 0 : 1);
