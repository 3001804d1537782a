// The project's module graph as the design tests see it: every TypeScript file under src/, bench/,
// test/ and scripts/, what each exports and which names of which files each imports. Parsed with
// the TypeScript compiler (syntax only: no type checking, so the whole scan takes about a second).
// Relative specifiers only: packages are outside the graph.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

export const ROOT = resolve(import.meta.dir, "../..");
const TREES = ["src", "bench", "test", "scripts"];

/** An import of `names` from `target` (a path relative to the repository root). */
interface ImportEdge {
  target: string;
  /** Imported names; "*" when the whole module is used (a namespace passed around, a bare dynamic import). */
  names: string[];
  /** `import type` / `export type`: erased at run time, still a dependency of the design. */
  typeOnly: boolean;
}

interface ModuleFile {
  /** Relative to the repository root, e.g. "src/http/parser.ts". */
  path: string;
  lines: number;
  exports: string[];
  imports: ImportEdge[];
}

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === "node_modules" ? [] : tsFiles(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

let cache: ModuleFile[] | undefined;

/** Every module of the project, sorted by path. */
export function projectModules(): ModuleFile[] {
  cache ??= TREES.flatMap((t) => tsFiles(join(ROOT, t)))
    .sort()
    .map((abs) => scanFile(abs));
  return cache;
}

function scanFile(abs: string): ModuleFile {
  const text = readFileSync(abs, "utf8");
  const sf = ts.createSourceFile(abs, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports: ImportEdge[] = [];
  const add = (spec: ts.Node | undefined, names: string[], typeOnly: boolean) => {
    const target = spec && ts.isStringLiteralLike(spec) ? resolveSpecifier(abs, spec.text) : undefined;
    if (target) imports.push({ target, names, typeOnly });
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) add(st.moduleSpecifier, importedNames(sf, st), st.importClause?.isTypeOnly ?? false);
    else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
      const names = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements.map((e) => (e.propertyName ?? e.name).text) : ["*"];
      add(st.moduleSpecifier, names, st.isTypeOnly);
    }
  }
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], dynamicNames(sf, node), false);
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, [node.qualifier ? leftmost(node.qualifier) : "*"], true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { path: relative(ROOT, abs), lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0), exports: exportedNames(sf), imports };
}

function resolveSpecifier(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = resolve(dirname(from), spec);
  const hit = [base, base + ".ts", join(base, "index.ts")].find((p) => existsSync(p) && statSync(p).isFile());
  return relative(ROOT, hit ?? base);
}

const leftmost = (q: ts.EntityName): string => (ts.isIdentifier(q) ? q.text : leftmost(q.left));

function importedNames(sf: ts.SourceFile, st: ts.ImportDeclaration): string[] {
  const clause = st.importClause;
  if (!clause) return []; // `import "./x.ts"`: for its side effects, no names
  const names = clause.name ? ["default"] : [];
  const bindings = clause.namedBindings;
  if (bindings && ts.isNamedImports(bindings)) names.push(...bindings.elements.map((e) => (e.propertyName ?? e.name).text));
  if (bindings && ts.isNamespaceImport(bindings)) names.push(...memberUses(sf, bindings.name.text));
  return names;
}

/** Names read off a namespace identifier (`L.NAME`); "*" if it is also used whole. */
function memberUses(sf: ts.SourceFile, ns: string): string[] {
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    const p = node.parent;
    if (ts.isIdentifier(node) && node.text === ns && !ts.isNamespaceImport(p)) {
      if (ts.isPropertyAccessExpression(p) && p.expression === node) names.add(p.name.text);
      else if (ts.isQualifiedName(p) && p.left === node) names.add(p.right.text);
      // The binding itself, or another thing's member of the same name (`x.L`): not a use of the namespace.
      else if (!(ts.isVariableDeclaration(p) && p.name === node) && !(ts.isPropertyAccessExpression(p) && p.name === node)) names.add("*");
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return [...names];
}

/** What a dynamic import's result is used for: `const { a } = await import()`, `(await import()).a`, `const m = ...; m.a`. */
function dynamicNames(sf: ts.SourceFile, call: ts.CallExpression): string[] {
  let node: ts.Node = call;
  while (ts.isAwaitExpression(node.parent) || ts.isParenthesizedExpression(node.parent) || ts.isAsExpression(node.parent)) node = node.parent;
  const p = node.parent;
  if (ts.isPropertyAccessExpression(p) && p.expression === node) return [p.name.text];
  if (ts.isVariableDeclaration(p) && ts.isObjectBindingPattern(p.name)) {
    return p.name.elements.map((e) => (e.propertyName && ts.isIdentifier(e.propertyName) ? e.propertyName.text : (e.name as ts.Identifier).text));
  }
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return memberUses(sf, p.name.text);
  return ts.isExpressionStatement(p) ? [] : ["*"];
}

function exportedNames(sf: ts.SourceFile): string[] {
  const names: string[] = [];
  const bound = (n: ts.BindingName): string[] => (ts.isIdentifier(n) ? [n.text] : n.elements.flatMap((e) => (ts.isBindingElement(e) ? bound(e.name) : [])));
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st)) {
      if (st.exportClause && ts.isNamedExports(st.exportClause)) names.push(...st.exportClause.elements.map((e) => e.name.text));
      else throw new Error(`${sf.fileName}: \`export *\` hides which names a file offers; name them`);
      continue;
    }
    if (ts.isExportAssignment(st)) {
      names.push("default");
      continue;
    }
    const mods = ts.canHaveModifiers(st) ? ts.getModifiers(st) : undefined;
    if (!mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    if (mods.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) names.push("default");
    else if (ts.isVariableStatement(st)) names.push(...st.declarationList.declarations.flatMap((d) => bound(d.name)));
    else if ("name" in st && st.name && ts.isIdentifier(st.name as ts.Node)) names.push((st.name as ts.Identifier).text);
  }
  return names;
}
