#!/usr/bin/env node
// Type-checks Grafana dashboards against Grafana's own schema types (@grafana/schema, pinned in
// grafana_schema/package.json and installed by scripts/setup) with `tsc --noEmit --strict`.
//
//   node dashboards_schema.mjs --work DIR (DASHBOARD.json | DIRECTORY)...
//
// Each dashboard becomes a TypeScript file in DIR: the whole dashboard as an object literal of
// type `Dashboard`, plus each panel's `options` and `fieldConfig.defaults.custom` as literals of
// the panel plugin's `Options` and `FieldConfig` types. Object literals get TypeScript's excess
// property check, so unknown or removed options fail as well as missing required ones. Each
// error is printed as `FILE:LINE: JSONPATH: message`; exit status 1 when there is one, 2 when
// the check itself cannot run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const toolDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'grafana_schema');
const modulesDir = path.join(toolDir, 'node_modules');

function fail(message) {
  console.error(`dashboards_schema: ${message}`);
  process.exit(2);
}

// --- A JSON parser that keeps the line of every value, so errors can name it. ---

class JsonSyntaxError extends Error {
  constructor(line, message) {
    super(message);
    this.line = line;
  }
}

function parseJson(text) {
  let pos = 0;
  let line = 1;
  const error = (what) => new JsonSyntaxError(line, `invalid JSON: ${what}`);
  const skipSpace = () => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos])) {
      if (text[pos] === '\n') line++;
      pos++;
    }
  };
  const expect = (ch) => {
    skipSpace();
    if (text[pos] !== ch) throw error(`expected '${ch}'`);
    pos++;
  };
  // Sticky regexes match at `pos` without copying the rest of the text.
  const stringPattern = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
  const scalarPattern = /true|false|null|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const token = (pattern, what) => {
    pattern.lastIndex = pos;
    const match = pattern.exec(text);
    if (!match) throw error(what);
    pos += match[0].length;
    return match[0];
  };
  // The items of `[...]` or `{...}` after the opening bracket, each read by `item`.
  const sequence = (close, item) => {
    const items = [];
    skipSpace();
    if (text[pos] === close) {
      pos++;
      return items;
    }
    for (;;) {
      items.push(item());
      skipSpace();
      if (text[pos] !== ',') break;
      pos++;
    }
    expect(close);
    return items;
  };
  const objectMember = () => {
    skipSpace();
    const keyLine = line;
    if (text[pos] !== '"') throw error('expected a property name');
    const key = JSON.parse(token(stringPattern, 'invalid string'));
    expect(':');
    return { key, keyLine, node: value() };
  };
  const value = () => {
    skipSpace();
    const start = line;
    switch (text[pos]) {
      case '{':
        pos++;
        return { kind: 'object', members: sequence('}', objectMember), line: start };
      case '[':
        pos++;
        return { kind: 'array', items: sequence(']', value), line: start };
      case '"':
        return { kind: 'scalar', literal: token(stringPattern, 'invalid string'), line: start };
      default:
        return { kind: 'scalar', literal: token(scalarPattern, 'invalid value'), line: start };
    }
  };
  const root = value();
  skipSpace();
  if (pos !== text.length) throw error('unexpected text after the JSON value');
  return root;
}

const member = (node, key) =>
  node?.kind === 'object' ? node.members.find((m) => m.key === key)?.node : undefined;
const scalarString = (node) =>
  node?.kind === 'scalar' && node.literal.startsWith('"') ? JSON.parse(node.literal) : undefined;
const isIdentifier = (key) => /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key);
const pathKey = (key) => (isIdentifier(key) ? `.${key}` : `[${JSON.stringify(key)}]`);
// Unquoted where it can be, so that tsc names a property 'footer' rather than '"footer"'.
const propertyName = (key) => (isIdentifier(key) ? key : JSON.stringify(key));

// --- Emitting TypeScript: one value per line, each line remembering its JSON path and line. ---

class TsWriter {
  constructor() {
    this.lines = [];
    this.origins = []; // per emitted line: {jsonPath, jsonLine}, or null
  }
  raw(text) {
    for (const line of text.split('\n')) {
      this.lines.push(line);
      this.origins.push(null);
    }
  }
  // Writes `${prefix}${value}` starting on a new line; the caller appends `suffix` at its end.
  value(node, jsonPath, prefix, indent, suffix, originLine = node.line) {
    const at = { jsonPath, jsonLine: originLine };
    const open = (text) => {
      this.lines.push(indent + text);
      this.origins.push(at);
    };
    if (node.kind === 'scalar') return open(`${prefix}${node.literal}${suffix}`);
    const [first, last, children] =
      node.kind === 'object' ? ['{', '}', node.members] : ['[', ']', node.items];
    if (children.length === 0) return open(`${prefix}${first}${last}${suffix}`);
    open(prefix + first);
    children.forEach((child, i) => {
      const comma = i + 1 < children.length ? ',' : '';
      if (node.kind === 'object') {
        this.value(child.node, jsonPath + pathKey(child.key), `${propertyName(child.key)}: `,
                   `${indent}  `, comma, child.keyLine);
      } else {
        this.value(child, `${jsonPath}[${i}]`, '', `${indent}  `, comma);
      }
    });
    this.lines.push(indent + last + suffix);
    this.origins.push(at);
  }
}

// --- Panel plugins: which plugin types @grafana/schema exports, from its package exports. ---

function panelPlugins() {
  const pkg = JSON.parse(fs.readFileSync(path.join(modulesDir, '@grafana/schema/package.json'), 'utf8'));
  const plugins = new Map();
  for (const [specifier, target] of Object.entries(pkg.exports ?? {})) {
    const match =
      /^\.\/dist\/esm\/raw\/composable\/([a-z0-9]+)\/panelcfg\/x\/[A-Za-z0-9]+_types\.gen$/.exec(specifier);
    if (!match) continue;
    const types = fs.readFileSync(path.join(modulesDir, '@grafana/schema', target.types), 'utf8');
    plugins.set(match[1], {
      module: `@grafana/schema${specifier.slice(1)}`,
      hasFieldConfig: /export interface FieldConfig\b/.test(types),
    });
  }
  return plugins;
}

// Panel plugin ids whose schema folder is not the id lower-cased without dashes.
const pluginFolderAliases = { annolist: 'annotationslist', dashlist: 'dashboardlist' };
const pluginFolder = (type) => pluginFolderAliases[type] ?? type.toLowerCase().replaceAll('-', '');

// The generated file's preamble. `Json<T>` is T as a JSON file can spell it: TypeScript's string
// enums (`LegendDisplayMode.List`) accept only the enum member, never the string "list" that a
// dashboard holds, so every string type becomes the union of its literal values.
const preamble = `\
import type { Dashboard, VariableModel, VariableOption } from '@grafana/schema';

type Json<T> = T extends string ? \`\${T}\`
  : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer E> ? Array<Json<E>>
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;

// Variables as Grafana's v2 dashboard schema has them (schema/dashboard/v2beta1): \`current\` is
// required, and query variables may carry \`definition\` (the query as text, which Grafana
// writes); the classic \`VariableModel\` has \`current\` optional and no \`definition\`.
type CheckedVariable = Json<VariableModel> & { current: Json<VariableOption>; definition?: string };
type CheckedDashboard = Omit<Json<Dashboard>, 'templating'> & {
  templating?: { list?: Array<CheckedVariable> };
};

// Panel plugins without custom field options (stat, bargauge...) take none.
type NoCustom = { [key: string]: never };
`;

function generate(file, root, plugins, problems) {
  const ts = new TsWriter();
  ts.raw(preamble);
  const imports = new Map(); // plugin folder -> import alias
  const body = new TsWriter();

  body.value(root, '$', 'export const dashboard: CheckedDashboard = ', '', ';');

  let index = 0;
  const walkPanels = (panels, panelsPath) => {
    if (panels?.kind !== 'array') return;
    panels.items.forEach((panel, i) => {
      const panelPath = `${panelsPath}[${i}]`;
      const type = scalarString(member(panel, 'type'));
      walkPanels(member(panel, 'panels'), `${panelPath}.panels`);
      if (type === undefined || type === 'row') return;
      const folder = pluginFolder(type);
      const plugin = plugins.get(folder);
      if (!plugin) {
        problems.push({ file, line: member(panel, 'type').line,
                        text: `${panelPath}.type: @grafana/schema has no panel schema for type "${type}"` });
        return;
      }
      if (!imports.has(folder)) imports.set(folder, `Panel_${folder}`);
      const alias = imports.get(folder);
      const options = member(panel, 'options');
      if (options) {
        body.value(options, `${panelPath}.options`,
                   `export const panel${index}Options: Json<${alias}.Options> = `, '', ';');
      }
      const custom = member(member(member(panel, 'fieldConfig'), 'defaults'), 'custom');
      if (custom) {
        const customType = plugin.hasFieldConfig ? `Json<${alias}.FieldConfig>` : 'NoCustom';
        body.value(custom, `${panelPath}.fieldConfig.defaults.custom`,
                   `export const panel${index}Custom: ${customType} = `, '', ';');
      }
      index++;
    });
  };
  walkPanels(member(root, 'panels'), '$.panels');

  for (const [folder, alias] of imports) {
    ts.raw(`import type * as ${alias} from '${plugins.get(folder).module}';`);
  }
  ts.raw('');
  ts.lines.push(...body.lines);
  ts.origins.push(...body.origins);
  return ts;
}

// --- Main ---

const args = process.argv.slice(2);
let workDir;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--work') workDir = args[++i];
  else inputs.push(args[i]);
}
if (!workDir || inputs.length === 0) fail('usage: dashboards_schema.mjs --work DIR (DASHBOARD.json | DIRECTORY)...');

const pinned = JSON.parse(fs.readFileSync(path.join(toolDir, 'package.json'), 'utf8')).devDependencies;
for (const [name, version] of Object.entries(pinned)) {
  const manifest = path.join(modulesDir, name, 'package.json');
  const installed = fs.existsSync(manifest) ? JSON.parse(fs.readFileSync(manifest, 'utf8')).version : null;
  if (installed !== version) {
    fail(`${path.join(modulesDir, name)} is ${installed ? `version ${installed}` : 'not installed'}, ` +
         `package.json pins ${version}: run scripts/setup`);
  }
}

const files = inputs.flatMap((input) => {
  if (!fs.existsSync(input)) fail(`${input}: no such file or directory`);
  if (!fs.statSync(input).isDirectory()) return [input];
  return fs.readdirSync(input).filter((n) => n.endsWith('.json')).sort().map((n) => path.join(input, n));
});
if (files.length === 0) fail(`no dashboard (*.json) in ${inputs.join(' ')}`);

// The work directory is emptied first; refuse one this script did not make.
const marker = path.join(workDir, '.dashboards_schema');
if (fs.existsSync(workDir) && fs.readdirSync(workDir).length > 0 && !fs.existsSync(marker)) {
  fail(`${workDir} exists and was not made by this check: give an empty or new directory`);
}
fs.rmSync(workDir, { recursive: true, force: true });
fs.mkdirSync(workDir, { recursive: true });
fs.writeFileSync(marker, '');
fs.symlinkSync(modulesDir, path.join(workDir, 'node_modules'), 'dir');

const plugins = panelPlugins();
const problems = []; // {file, line, text}, printed as FILE:LINE: text
const generated = new Map(); // .ts file name -> {file, origins}
files.forEach((filePath, i) => {
  const file = path.isAbsolute(filePath) && !path.relative(process.cwd(), filePath).startsWith('..')
    ? path.relative(process.cwd(), filePath) : filePath;
  let root;
  try {
    root = parseJson(fs.readFileSync(filePath, 'utf8'));
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    problems.push({ file, line: e.line, text: e.message });
    return;
  }
  const ts = generate(file, root, plugins, problems);
  const name = `dashboard${i}_${path.basename(filePath, '.json').replace(/[^A-Za-z0-9]/g, '_')}.ts`;
  fs.writeFileSync(path.join(workDir, name), ts.lines.join('\n') + '\n');
  generated.set(name, { file, origins: ts.origins });
});

fs.writeFileSync(path.join(workDir, 'tsconfig.json'), JSON.stringify({
  compilerOptions: {
    target: 'es2022', module: 'esnext', moduleResolution: 'bundler', types: [], skipLibCheck: true,
  },
  files: [...generated.keys()],
}, null, 2));

if (generated.size > 0) {
  const tsc = spawnSync(process.execPath,
    [path.join(modulesDir, 'typescript/bin/tsc'), '-p', workDir, '--noEmit', '--strict', '--pretty', 'false'],
    { encoding: 'utf8' });
  if (tsc.error) fail(`cannot run tsc: ${tsc.error.message}`);
  // tsc prints `NAME.ts(LINE,COL): error TSnnnn: message`, then indented elaborations. A line
  // outside the dashboards' literals (the preamble) would be a fault of this script.
  const before = problems.length;
  for (const text of tsc.stdout.split('\n')) {
    const match = /^(.+?\.ts)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(text);
    const source = match && generated.get(path.basename(match[1]));
    const origin = source?.origins[Number(match[2]) - 1];
    if (origin) {
      problems.push({ file: source.file, line: origin.jsonLine, text: `${origin.jsonPath}: ${match[5]}` });
    } else if (!match && text.trim() !== '' && problems.length > before) {
      problems[problems.length - 1].text += `\n${text}`;
    } else if (text.trim() !== '') {
      fail(`tsc reported an error outside the dashboards (in ${workDir}):\n${tsc.stdout}${tsc.stderr}`);
    }
  }
  if (tsc.status !== 0 && problems.length === before) fail(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
}

problems.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
for (const { file, line, text } of problems) console.log(`${file}:${line}: ${text}`);
if (problems.length > 0) {
  console.log(`${problems.length} schema error(s) in ${files.length} dashboard(s); ` +
              `generated TypeScript in ${workDir}`);
  process.exit(1);
}
console.log(`${files.length} dashboard(s) match @grafana/schema ${pinned['@grafana/schema']}`);
