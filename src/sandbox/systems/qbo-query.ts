import { queryInvalid, queryParseError } from "./qbo-fault.ts";

/**
 * The QBO query language, as the sandbox's accounting system serves it on `GET /query`: `parseQuery`
 * reads a query's text, `selectIds` applies its WHERE and ORDERBY to an entity's records. A query QBO
 * would refuse throws the fault QBO answers with (QueryParserError, QueryValidationError).
 */

export type EntityName = "Customer" | "Invoice" | "Payment";
export type FieldValue = string | number | boolean | undefined;
/** An entity's queryable properties, by lower-case name (`metadata.lastupdatedtime`), each reading a record by id. */
export type QueryableFields = Record<string, (id: string) => FieldValue>;

export interface ParsedQuery {
  entity: EntityName;
  count: boolean;
  conditions: Array<{ field: string; operator: string; values: string[] }>;
  orderBy: { field: string; descending: boolean } | undefined;
  startPosition: number;
  maxResults: number;
}

/**
 * `SELECT * | COUNT(*) FROM <Entity> [WHERE <Field> <op> <value> [AND …]] [ORDERBY <Field> [ASC|DESC]]
 * [STARTPOSITION n] [MAXRESULTS m]`, keywords in any case, strings in single quotes with `\'` escapes
 * (https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries).
 * Operators: =, <, >, <=, >=, IN (…), LIKE with `%`. QBO has no OR and no joins; neither has this.
 */
export function parseQuery(text: string): ParsedQuery {
  const tokens = tokenize(text);
  let position = 0;
  const peek = () => tokens[position];
  const next = () => {
    const token = tokens[position++];
    if (token === undefined) throw queryParseError(`Encountered "<EOF>" at the end of "${text}"`);
    return token;
  };
  const keyword = (word: string) => {
    const token = peek();
    if (token?.kind === "word" && token.text.toLowerCase() === word) {
      position++;
      return true;
    }
    return false;
  };
  const expect = (word: string) => {
    if (!keyword(word))
      throw queryParseError(`Encountered "${peek()?.text ?? "<EOF>"}" where "${word.toUpperCase()}" was expected`);
  };

  expect("select");
  let count = false;
  if (peek()?.text === "*") {
    next();
  } else if (keyword("count")) {
    for (const symbol of ["(", "*", ")"]) if (next().text !== symbol) throw queryParseError("expected COUNT(*)");
    count = true;
  } else {
    throw queryParseError(
      `Encountered "${peek()?.text ?? "<EOF>"}": the sandbox supports SELECT * and SELECT COUNT(*)`,
    );
  }
  expect("from");
  const entityToken = next();
  const entity = (["Customer", "Invoice", "Payment"] as const).find(
    (name) => name.toLowerCase() === entityToken.text.toLowerCase(),
  );
  if (!entity)
    throw queryInvalid(`Entity ${entityToken.text} is not supported in this sandbox (Customer, Invoice, Payment)`);

  const conditions: ParsedQuery["conditions"] = [];
  if (keyword("where")) {
    do {
      const field = next();
      if (field.kind !== "word")
        throw queryParseError(`Encountered "${field.text}" where a property name was expected`);
      const operatorToken = next();
      const operator = operatorToken.text.toUpperCase();
      if (operator === "IN") {
        if (next().text !== "(") throw queryParseError('expected "(" after IN');
        const values = [literal(next())];
        while (peek()?.text === ",") {
          next();
          values.push(literal(next()));
        }
        if (next().text !== ")") throw queryParseError('expected ")" to close IN (…)');
        conditions.push({ field: field.text, operator, values });
      } else if (["=", "<", ">", "<=", ">=", "LIKE"].includes(operator)) {
        conditions.push({ field: field.text, operator, values: [literal(next())] });
      } else {
        throw queryParseError(`Encountered "${operatorToken.text}": supported operators are =, <, >, <=, >=, IN, LIKE`);
      }
    } while (keyword("and"));
  }
  let orderBy: ParsedQuery["orderBy"];
  if (keyword("orderby") || (keyword("order") && keyword("by"))) {
    const field = next().text;
    const descending = keyword("desc");
    if (!descending) keyword("asc");
    orderBy = { field, descending };
  }
  let startPosition = 1;
  let maxResults = 100;
  for (;;) {
    if (keyword("startposition")) startPosition = positiveInteger(next().text, "STARTPOSITION");
    else if (keyword("maxresults")) maxResults = positiveInteger(next().text, "MAXRESULTS");
    else break;
  }
  if (maxResults > 1000) throw queryInvalid(`value ${maxResults} is too large. Max allowed value is 1000`);
  if (peek() !== undefined) throw queryParseError(`Encountered "${peek()?.text}" after the end of the query`);
  return { entity, count, conditions, orderBy, startPosition, maxResults };
}

interface Token {
  kind: "word" | "string" | "number" | "symbol";
  text: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index] as string;
    if (/\s/.test(char)) {
      index++;
      continue;
    }
    if (char === "'") {
      let value = "";
      index++;
      for (;;) {
        if (index >= text.length) throw queryParseError("a string literal is not closed with '");
        const c = text[index] as string;
        if (c === "\\" && index + 1 < text.length) {
          value += text[index + 1];
          index += 2;
          continue;
        }
        if (c === "'") break;
        value += c;
        index++;
      }
      index++;
      tokens.push({ kind: "string", text: value });
      continue;
    }
    const symbol = /^(<=|>=|[=<>(),*])/.exec(text.slice(index))?.[1];
    if (symbol) {
      tokens.push({ kind: "symbol", text: symbol });
      index += symbol.length;
      continue;
    }
    const number = /^-?\d+(\.\d+)?/.exec(text.slice(index))?.[0];
    if (number) {
      tokens.push({ kind: "number", text: number });
      index += number.length;
      continue;
    }
    const word = /^[A-Za-z_][\w.]*/.exec(text.slice(index))?.[0];
    if (!word) throw queryParseError(`Lexical error at "${text.slice(index, index + 10)}"`);
    tokens.push({ kind: "word", text: word });
    index += word.length;
  }
  return tokens;
}

function literal(token: Token): string {
  if (token.kind === "string" || token.kind === "number") return token.text;
  if (token.kind === "word" && /^(true|false)$/i.test(token.text)) return token.text.toLowerCase();
  throw queryParseError(`Encountered "${token.text}" where a value ('text', a number, true or false) was expected`);
}

function positiveInteger(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw queryParseError(`${what} needs a positive integer, not "${text}"`);
  return value;
}

/**
 * The ids the query's conditions keep, in its ORDERBY order (else as given). COUNT(*) and the page
 * (STARTPOSITION, MAXRESULTS) are the caller's. A property missing from `fields` is refused, as QBO refuses it.
 */
export function selectIds(query: ParsedQuery, ids: string[], fields: QueryableFields): string[] {
  const field = (name: string) => {
    const read = fields[name.toLowerCase()];
    if (!read) throw queryInvalid(`property '${name}' is not queryable`);
    return read;
  };
  const conditions = query.conditions.map((condition) => ({ ...condition, read: field(condition.field) }));
  const order = query.orderBy ? { ...query.orderBy, read: field(query.orderBy.field) } : undefined;
  const selected = ids.filter((id) => conditions.every((c) => matches(c.read(id), c.operator, c.values)));
  if (order) {
    selected.sort((a, b) => compareValues(order.read(a), order.read(b)) * (order.descending ? -1 : 1));
  }
  return selected;
}

/**
 * Strings compare without regard to case (`=`, IN, LIKE), as QBO compares them: it is also why a
 * DisplayName that differs only in case is a duplicate name, and a lookup by it must find that customer.
 */
function matches(value: FieldValue, operator: string, wanted: string[]): boolean {
  if (value === undefined) return false;
  const text = String(value).toLowerCase();
  switch (operator) {
    case "=":
      return wanted.some((w) => (typeof value === "number" ? value === Number(w) : text === w.toLowerCase()));
    case "IN":
      return wanted.some((w) => text === w.toLowerCase());
    case "LIKE": {
      const pattern = (wanted[0] ?? "").split("%").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      return new RegExp(`^${pattern.join(".*")}$`, "i").test(text);
    }
    default: {
      const order = compareValues(value, typeof value === "number" ? Number(wanted[0]) : wanted[0]);
      if (operator === "<") return order < 0;
      if (operator === ">") return order > 0;
      if (operator === "<=") return order <= 0;
      return order >= 0;
    }
  }
}

/** A date-time with its offset (`2025-05-02T09:14:33-07:00`, `…Z`), as QBO writes and reads them. */
const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function compareValues(a: FieldValue, b: FieldValue): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const [x, y] = [String(a ?? ""), String(b ?? "")];
  // Ids are numeric strings: order them as numbers, as QBO does.
  if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) - Number(y);
  // Date-times compare as the instants they are, whatever offset each is written in.
  if (dateTime.test(x) && dateTime.test(y)) return Date.parse(x) - Date.parse(y);
  return x < y ? -1 : x > y ? 1 : 0;
}
