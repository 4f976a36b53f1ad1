import type { z } from "zod";

/** A field a schema reads, in the paths of `bodyShape` (`Invoice.DocNumber`, `Line[].Amount`). */
export interface SchemaField {
  path: string;
  /** The schema fails without it (it and every object it sits in are required). */
  required: boolean;
}

interface ZodInternals {
  _zod: { def: Record<string, unknown> & { type: string }; optin?: "optional" };
}

const maxDepth = 12;
const cache = new WeakMap<object, SchemaField[]>();

/** The fields a zod schema reads, computed once per schema. */
export function schemaFieldPaths(schema: z.ZodType): SchemaField[] {
  let fields = cache.get(schema);
  if (!fields) {
    fields = [];
    collect(schema as unknown as ZodInternals, "", true, 0, fields);
    cache.set(schema, fields);
  }
  return fields;
}

function collect(schema: ZodInternals, path: string, required: boolean, depth: number, out: SchemaField[]): void {
  const def = schema?._zod?.def;
  if (!def || depth > maxDepth) return;
  const inner = (key: string) => def[key] as ZodInternals;
  switch (def.type) {
    case "object":
      for (const [key, field] of Object.entries(def.shape as Record<string, ZodInternals>)) {
        const fieldPath = path === "" ? key : `${path}.${key}`;
        const fieldRequired = required && field._zod.optin !== "optional";
        out.push({ path: fieldPath, required: fieldRequired });
        collect(field, fieldPath, fieldRequired, depth + 1, out);
      }
      return;
    case "array":
      collect(inner("element"), `${path}[]`, required, depth + 1, out);
      return;
    case "optional":
      collect(inner("innerType"), path, false, depth + 1, out);
      return;
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      collect(inner("innerType"), path, required, depth + 1, out);
      return;
    case "pipe":
      collect(inner("in"), path, required, depth + 1, out);
      return;
    case "lazy":
      collect((def.getter as () => ZodInternals)(), path, required, depth + 1, out);
      return;
    case "intersection":
      collect(inner("left"), path, required, depth + 1, out);
      collect(inner("right"), path, required, depth + 1, out);
      return;
    case "union":
      // A field of one alternative is read when that alternative matches, so none is required by the union.
      for (const option of def.options as ZodInternals[]) collect(option, path, false, depth + 1, out);
      return;
  }
}
