/**
 * Validation of rendered Kubernetes objects with kubernetes-models 4.5: `validate()` of the kind's
 * model class (types, enums, required fields), plus an unknown-field check that `validate()` does not
 * do. kubernetes-models ships its schemas as compiled validators (no JSON schema to read) and as
 * TypeScript declarations (`I<Kind>` interfaces, one property per schema field), so the unknown-field
 * check walks each object against the kind's interface with the TypeScript type checker: a key the
 * interface (or its index signature, e.g. labels) does not declare is an unknown field.
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const INFRA_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** `kubernetes-models/<apiVersion>`: the module of a kind's model class and interface. */
function modelModule(apiVersion: string): string {
  return `kubernetes-models/${apiVersion}`;
}

/** Runs the model class's `validate()`; returns its error message, or undefined when valid. */
export async function validateWithModel(object: K8sObject): Promise<string | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modelModule(object.apiVersion))) as Record<string, unknown>;
  } catch {
    return `no kubernetes-models module for apiVersion ${object.apiVersion}`;
  }
  const Model = mod[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (typeof Model !== "function")
    return `no kubernetes-models class for ${object.apiVersion} ${object.kind}`;
  try {
    new Model(object).validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** A checker of unknown fields for the given kinds (one TypeScript program for all of them). */
export function createFieldChecker(kinds: Iterable<{ apiVersion: string; kind: string }>) {
  const unique = new Map<string, { apiVersion: string; kind: string }>();
  for (const k of kinds) unique.set(`${k.apiVersion} ${k.kind}`, { apiVersion: k.apiVersion, kind: k.kind });
  const entries = [...unique.values()];
  const fileName = join(INFRA_DIR, "__k8s_kinds__.ts");
  const source = entries
    .map((k, i) => `export declare const k${i}: import("${modelModule(k.apiVersion)}").I${k.kind};`)
    .join("\n");
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const baseGetSourceFile = host.getSourceFile.bind(host);
  const baseFileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, version, onError, create) =>
    name === fileName
      ? ts.createSourceFile(name, source, version)
      : baseGetSourceFile(name, version, onError, create);
  host.fileExists = (name) => name === fileName || baseFileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === fileName);
  if (problems.length > 0) {
    throw new Error(
      `kubernetes-models has no interface for: ${problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, " ")).join("; ")}`,
    );
  }
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(fileName);
  if (file === undefined) throw new Error("internal: the kinds file was not loaded");
  const types = new Map<string, ts.Type>();
  let i = 0;
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const decl of statement.declarationList.declarations) {
      const k = entries[i++];
      if (k !== undefined) types.set(`${k.apiVersion} ${k.kind}`, checker.getTypeAtLocation(decl.name));
    }
  }

  const arrayOf = (type: ts.Type): ts.Type | undefined => {
    const candidates = type.isUnion() ? type.types : [type];
    const array = candidates.find((t) => checker.isArrayType(t));
    return array === undefined ? undefined : checker.getTypeArguments(array as ts.TypeReference)[0];
  };
  const objectOf = (type: ts.Type): ts.Type | undefined => {
    const candidates = type.isUnion() ? type.types : [type];
    return candidates.find((t) => (t.flags & ts.TypeFlags.Object) !== 0 && !checker.isArrayType(t));
  };

  const walk = (value: unknown, declared: ts.Type, path: string, errors: string[]): void => {
    if (value === null || typeof value !== "object") return; // scalars: validate() checks their types
    const type = checker.getNonNullableType(declared);
    if ((type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0) return;
    if (Array.isArray(value)) {
      const element = arrayOf(type);
      if (element === undefined) errors.push(`${path}: an array where the schema has none`);
      else for (const [n, item] of value.entries()) walk(item, element, `${path}[${n}]`, errors);
      return;
    }
    const objectType = objectOf(type);
    if (objectType === undefined) {
      errors.push(`${path}: an object where the schema has a scalar`);
      return;
    }
    const index = checker
      .getIndexInfosOfType(objectType)
      .find((info) => (info.keyType.flags & ts.TypeFlags.String) !== 0);
    for (const [key, child] of Object.entries(value)) {
      const property = checker.getPropertyOfType(objectType, key);
      if (property !== undefined) walk(child, checker.getTypeOfSymbol(property), `${path}.${key}`, errors);
      else if (index !== undefined) walk(child, index.type, `${path}.${key}`, errors);
      else errors.push(`${path}.${key}: unknown field`);
    }
  };

  /** The unknown (or wrongly nested) fields of `object`, as paths; empty when none. */
  return (object: K8sObject): string[] => {
    const type = types.get(`${object.apiVersion} ${object.kind}`);
    if (type === undefined) return [`${object.apiVersion} ${object.kind}: kind not given to the checker`];
    const errors: string[] = [];
    walk(object, type, object.kind, errors);
    return errors;
  };
}
