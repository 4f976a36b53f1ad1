/** The JSON types a field can have, as bits so that a field seen with several types is one number. */
export const jsonTypes = { string: 1, number: 2, boolean: 4, object: 8, array: 16, null: 32 } as const;
export type JsonTypeName = keyof typeof jsonTypes;

/** Where a body's walk stops: a pathological body costs a bounded amount of work and stored size. */
export interface ShapeLimits {
  /** Distinct field paths kept per shape (and read per body). */
  maxPaths: number;
  /** Nesting depth read. */
  maxDepth: number;
  /** Elements of each array read (their fields are what the array's `[]` paths describe). */
  maxArrayItems: number;
}

export const defaultShapeLimits: ShapeLimits = { maxPaths: 500, maxDepth: 8, maxArrayItems: 10 };

export function typeOf(value: unknown): number {
  if (value === null) return jsonTypes.null;
  if (Array.isArray(value)) return jsonTypes.array;
  switch (typeof value) {
    case "string":
      return jsonTypes.string;
    case "number":
      return jsonTypes.number;
    case "boolean":
      return jsonTypes.boolean;
    default:
      return jsonTypes.object;
  }
}

/** `string|null` for the bits of string and null. */
export function typeNames(bits: number): string {
  const names = Object.entries(jsonTypes)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
  return names.join("|");
}

/**
 * The field paths of one body with the types seen at each: `Invoice.DocNumber`, array elements as
 * `Line[]` and their fields as `Line[].Amount`. The root itself is not a field.
 */
export function bodyShape(body: unknown, limits: ShapeLimits = defaultShapeLimits): Map<string, number> {
  const paths = new Map<string, number>();
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > limits.maxDepth) return;
    if (Array.isArray(value)) {
      const itemPath = `${path}[]`;
      const count = Math.min(value.length, limits.maxArrayItems);
      for (let i = 0; i < count; i++) {
        if (!add(itemPath, value[i])) return;
        visit(value[i], itemPath, depth + 1);
      }
      return;
    }
    if (value === null || typeof value !== "object") return;
    for (const key in value) {
      const inner = (value as Record<string, unknown>)[key];
      // Not JSON: a body built in code rather than parsed may hold it, and it means "no such field".
      if (inner === undefined) continue;
      const fieldPath = path === "" ? key : `${path}.${key}`;
      if (!add(fieldPath, inner)) return;
      visit(inner, fieldPath, depth + 1);
    }
  };
  const add = (path: string, value: unknown): boolean => {
    const seen = paths.get(path);
    if (seen === undefined && paths.size >= limits.maxPaths) return false;
    paths.set(path, (seen ?? 0) | typeOf(value));
    return true;
  };
  visit(body, "", 0);
  return paths;
}

/** The first value at `path` in `body` (`Line[].Amount` reads every element until one has it). */
export function valueAt(body: unknown, path: string): { found: boolean; value?: unknown } {
  const steps = path.match(/[^.[\]]+|\[\]/g) ?? [];
  const walk = (value: unknown, index: number): { found: boolean; value?: unknown } => {
    if (index === steps.length) return { found: true, value };
    const step = steps[index] as string;
    if (step === "[]") {
      if (!Array.isArray(value)) return { found: false };
      for (const item of value) {
        const inner = walk(item, index + 1);
        if (inner.found) return inner;
      }
      return { found: false };
    }
    if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, step))
      return { found: false };
    return walk((value as Record<string, unknown>)[step], index + 1);
  };
  return walk(body, 0);
}

/**
 * What an incident shows of a value: its type and size, never the value itself. A field that drifted may be a
 * token, an email or a card number, and an incident is read by people and sent to alert channels.
 */
export function describeExample(value: unknown): string {
  if (typeof value === "string") return `string (${value.length} chars)`;
  if (Array.isArray(value)) return `array (${value.length} items)`;
  if (value !== null && typeof value === "object") return `object (${Object.keys(value).length} fields)`;
  return typeNames(typeOf(value));
}

/** The path a field hangs from: `a.b[].c` → `a.b[]`, `a.b[]` → `a.b`, `a` → "" (the root). */
export function parentPath(path: string): string {
  if (path.endsWith("[]")) return path.slice(0, -2);
  const dot = path.lastIndexOf(".");
  return dot === -1 ? "" : path.slice(0, dot);
}
