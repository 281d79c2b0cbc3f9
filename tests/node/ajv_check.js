// Compile every JSON Schema snapshot with Ajv in strict mode, then validate the JSON lines of
// instances against one of them. Prints one JSON line: {"compiled": [...], "valid": [...]}.
// Usage: node ajv_check.js <schema dir> [<schema file name> <instances.jsonl>]
const Ajv = require("ajv/dist/2020");
const addFormats = require("ajv-formats");
const fs = require("fs");
const path = require("path");

const [dir, name, instances] = process.argv.slice(2);
const compiled = [];
let validate = null;
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats(ajv);
  const fn = ajv.compile(JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")));
  compiled.push(file);
  if (file === name) validate = fn;
}
const valid = [];
if (validate && instances) {
  for (const line of fs.readFileSync(instances, "utf8").split("\n")) {
    if (line.trim()) valid.push(validate(JSON.parse(line)));
  }
}
console.log(JSON.stringify({ compiled, valid }));
