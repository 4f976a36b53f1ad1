import { ValidationError } from "../sdk/errors.ts";
import { type EntityTag, maxSearchTerms } from "../storage/tag-store.ts";
import { InvalidEntityTagError, toEntityTag } from "./entity-tags.ts";

const example = "e.g. order:1001, or email:ada@example.com order:1001 for runs about both";

/**
 * A search as typed by a person: `kind:value` terms separated by spaces, all of which a run must hold
 * (AND: each term narrows; run one search per value for "either"). A value with spaces is quoted:
 * `customer:"Ada Lovelace"`. Values are normalised as tags are (trimmed, numbers as text, e-mail
 * addresses lower-cased), so `email:Ada@Example.com` finds what was tagged `ada@example.com`.
 */
export function parseEntityQuery(query: string | undefined): EntityTag[] {
  const text = query?.trim() ?? "";
  if (text === "") throw new ValidationError(`say what to search for as kind:value (${example})`);
  const tokens = text.match(/[^\s:"]+:"[^"]*"|\S+/g) ?? [];
  const terms = new Map<string, EntityTag>();
  for (const token of tokens) {
    const colon = token.indexOf(":");
    const kind = colon > 0 ? token.slice(0, colon) : "";
    const value = unquote(token.slice(colon + 1));
    if (colon <= 0 || value.trim() === "") {
      throw new ValidationError(`"${token}" is not kind:value; search for an entity as kind:value (${example})`);
    }
    let term: EntityTag | null;
    try {
      term = toEntityTag(kind.toLowerCase(), value);
    } catch (error) {
      if (error instanceof InvalidEntityTagError) throw new ValidationError(error.message);
      throw error;
    }
    if (term) terms.set(`${term.kind}\u0000${term.value}`, term);
  }
  if (terms.size > maxSearchTerms) {
    throw new ValidationError(`a search takes at most ${maxSearchTerms} kind:value terms, got ${terms.size}`);
  }
  return [...terms.values()];
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** `order:1001 email:ada@example.com`, as a person would type it back. */
export function formatEntityQuery(terms: EntityTag[]): string {
  return terms.map(({ kind, value }) => (/[\s"]/.test(value) ? `${kind}:"${value}"` : `${kind}:${value}`)).join(" ");
}
