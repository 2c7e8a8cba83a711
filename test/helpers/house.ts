/**
 * The house rules, measured with TypeScript's own parser: no source file in src/ or screens/ over
 * 500 lines, no function over 120, no import circle between files, the src/ top level holding
 * folders and at most two entry files, every catch that drops its error saying why, and each room
 * (folder) importing only the rooms below it in ROOMS.
 * test/unit/house.test.ts asserts them; `node dist/test/helpers/house.js` prints what breaks them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 500;
export const MAX_FUNCTION_LINES = 120;
export const MAX_TOP_LEVEL_FILES = 2;

/**
 * The rooms and which rooms each may import (besides itself): the architecture, checked. A room is
 * a folder of src/ (daemon/handlers and daemon/wiring apart from daemon/), a folder of screens/, or
 * screens/ itself for its two entries. Read from the bottom up: support/ imports nothing of vmail,
 * the protocols and the store build on model/, the daemon wires them, the CLI and the console
 * reach the daemon only through control/ (the CLI's `daemon` command starts it in-process).
 */
export const ROOMS: Record<string, readonly string[]> = {
  support: [],
  model: [],
  store: ['model', 'support'],
  control: ['model', 'support'],
  maildir: ['model', 'support'],
  service: ['model', 'store', 'support'],
  pop3: ['maildir', 'support'],
  smtp: ['control', 'maildir', 'model', 'service', 'store', 'support'],
  http: ['model', 'support'],
  acme: ['support'],
  'import-export': ['control', 'maildir', 'model', 'store', 'support'],
  cluster: ['control', 'maildir', 'model', 'pop3', 'service', 'smtp', 'store', 'support'],
  daemon: ['control', 'daemon/wiring', 'import-export', 'maildir', 'model', 'service', 'store', 'support'],
  'daemon/handlers': [
    'cluster',
    'control',
    'daemon',
    'import-export',
    'maildir',
    'model',
    'service',
    'smtp',
    'store',
    'support',
  ],
  'daemon/wiring': [
    'acme',
    'cluster',
    'control',
    'daemon',
    'daemon/handlers',
    'http',
    'import-export',
    'maildir',
    'model',
    'pop3',
    'service',
    'smtp',
    'store',
    'support',
  ],
  backup: ['model', 'service', 'store', 'support'],
  cli: ['backup', 'control', 'daemon', 'import-export', 'model', 'screens', 'service', 'store', 'support'],
  'screens/shared': ['control', 'model'],
  'screens/screen': ['control', 'import-export', 'model', 'screens/shared'],
  'screens/app': ['control', 'model', 'screens/screen', 'screens/shared'],
  screens: ['model', 'screens/app', 'screens/shared'],
};

/** The room a file is in; every screen's folder is one kind of room, 'screens/screen'. */
export function roomOf(root: string, path: string): string {
  const parts = relative(root, path).split('/');
  if (parts[0] === 'screens') {
    if (parts.length === 2) return 'screens';
    return parts[1] === 'app' || parts[1] === 'shared' ? `screens/${parts[1]}` : 'screens/screen';
  }
  if (parts[1] === 'daemon' && parts.length > 3) return `daemon/${parts[2]}`;
  return parts.length > 2 ? parts[1] : 'src';
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function parse(path: string): ts.SourceFile {
  const kind = path.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  return ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.ES2022, true, kind);
}

const lineOf = (file: ts.SourceFile, pos: number) => file.getLineAndCharacterOfPosition(pos).line + 1;

function functionName(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

/** Does the text of `node`, or the line just before it, hold a comment? */
function saysWhy(file: ts.SourceFile, node: ts.Node): boolean {
  const text = file.text;
  const start = node.getStart(file);
  const lineStart = text.lastIndexOf('\n', start - 1);
  const previousLine = text.lastIndexOf('\n', lineStart - 1);
  const span = text.slice(previousLine + 1, node.getEnd());
  const end = text.indexOf('\n', node.getEnd());
  const rest = text.slice(node.getEnd(), end === -1 ? undefined : end);
  return /\/\/|\/\*/.test(span) || /\/\/|\/\*/.test(rest);
}

function usesName(block: ts.Node, name: string): boolean {
  let used = false;
  const visit = (node: ts.Node) => {
    if (used) return;
    if (ts.isIdentifier(node) && node.text === name) used = true;
    else ts.forEachChild(node, visit);
  };
  ts.forEachChild(block, visit);
  return used;
}

function throwsOrReturnsError(block: ts.Node): boolean {
  let found = false;
  const visit = (node: ts.Node) => {
    if (found || ts.isFunctionLike(node)) return;
    if (ts.isThrowStatement(node)) found = true;
    else ts.forEachChild(node, visit);
  };
  ts.forEachChild(block, visit);
  return found;
}

/** A catch clause or a `.catch(handler)` whose handler neither uses nor rethrows the error. */
function dropsError(node: ts.Node): ts.Node | undefined {
  if (ts.isCatchClause(node)) {
    const name = node.variableDeclaration?.name;
    const used = name && ts.isIdentifier(name) && usesName(node.block, name.text);
    return used || throwsOrReturnsError(node.block) ? undefined : node;
  }
  if (
    ts.isCallExpression(node) &&
    ts.isPropertyAccessExpression(node.expression) &&
    node.expression.name.text === 'catch' &&
    node.arguments.length === 1
  ) {
    const handler = node.arguments[0];
    if (!ts.isArrowFunction(handler) && !ts.isFunctionExpression(handler)) return undefined;
    const param = handler.parameters[0]?.name;
    const used = param && ts.isIdentifier(param) && usesName(handler.body, param.text);
    return used || throwsOrReturnsError(handler.body) ? undefined : node;
  }
  return undefined;
}

/** Relative imports (and re-exports, and dynamic imports of a literal) of one file, resolved. */
function importsOf(file: ts.SourceFile): string[] {
  const out: string[] = [];
  const add = (spec: string) => {
    if (!spec.startsWith('.')) return;
    const base = resolve(dirname(file.fileName), spec);
    const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), base, `${base}.ts`, `${base}.tsx`];
    const hit = candidates.find((path) => {
      try {
        return statSync(path).isFile();
      } catch {
        // Not this candidate: try the next spelling.
        return false;
      }
    });
    if (hit) out.push(hit);
  };
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) add(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

/** Every cycle in the import graph, each as the list of files that form it (Tarjan's SCCs). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!order.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) === order.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!order.has(v)) connect(v);
  return out;
}

export interface HouseReport {
  longFiles: string[];
  longFunctions: string[];
  circles: string[];
  topLevelFiles: string[];
  silentCatches: string[];
  strayImports: string[];
}

export function inspectHouse(root: string): HouseReport {
  const files = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'screens'))];
  const report: HouseReport = {
    longFiles: [],
    longFunctions: [],
    circles: [],
    topLevelFiles: [],
    silentCatches: [],
    strayImports: [],
  };
  const graph = new Map<string, string[]>();
  for (const path of files) {
    const file = parse(path);
    const name = relative(root, path);
    const lines = file.getLineAndCharacterOfPosition(file.getEnd()).line + (file.text.endsWith('\n') ? 0 : 1);
    if (lines > MAX_FILE_LINES) report.longFiles.push(`${name}: ${lines} lines`);
    graph.set(path, importsOf(file));
    const room = roomOf(root, path);
    for (const target of graph.get(path)!) {
      const to = roomOf(root, target);
      const sameScreen = room === 'screens/screen' && to === room && dirname(target) === dirname(path);
      if (to === room && (room !== 'screens/screen' || sameScreen)) continue;
      if (!ROOMS[room]?.includes(to)) report.strayImports.push(`${name} -> ${relative(root, target)}`);
    }
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
        const length = lineOf(file, node.getEnd()) - lineOf(file, node.getStart(file)) + 1;
        if (length > MAX_FUNCTION_LINES) {
          report.longFunctions.push(
            `${name}:${lineOf(file, node.getStart(file))} ${functionName(node)}: ${length} lines`,
          );
        }
      }
      const silent = dropsError(node);
      if (silent && !saysWhy(file, ts.isCatchClause(silent) ? silent : (silent as ts.CallExpression).arguments[0])) {
        report.silentCatches.push(`${name}:${lineOf(file, silent.getStart(file))}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  report.circles = circles(graph).map((group) => group.map((path) => relative(root, path)).join(' <-> '));
  report.topLevelFiles = readdirSync(join(root, 'src')).filter((name) => statSync(join(root, 'src', name)).isFile());
  return report;
}

if (process.argv[1] && resolve(process.argv[1]).endsWith(join('helpers', 'house.js'))) {
  const root = resolve(dirname(process.argv[1]), '../../..');
  const report = inspectHouse(root);
  for (const [key, list] of Object.entries(report)) {
    console.log(`${key} (${list.length})`);
    for (const line of list) console.log(`  ${line}`);
  }
}
