/**
 * Parses a large JSON body from its UTF-8 bytes, to the value `JSON.parse` gives for its text, without decoding it
 * into one string: every array or object of at most `spanBytes` is decoded and parsed natively on its own, and a
 * larger one is assembled member by member. A page of a thousand records is then a thousand small strings, which
 * die young, rather than one string of a megabyte in V8's large-object space, which only a full collection frees
 * (an API listed page after page would pile those up). Malformed JSON throws a SyntaxError.
 */

const spanBytes = 64 * 1024;

const quote = 0x22;
const backslash = 0x5c;
const openBracket = 0x5b;
const closeBracket = 0x5d;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const comma = 0x2c;
const colon = 0x3a;

export function parseJsonBytes(bytes: Buffer): unknown {
  const [value, end] = parseValue(bytes, skipSpace(bytes, 0));
  if (skipSpace(bytes, end) !== bytes.length) throw malformed(end);
  return value;
}

/** The value starting at `at` (no space before it), and where it ends. */
function parseValue(bytes: Buffer, at: number): [unknown, number] {
  const first = bytes[at];
  if (first === openBracket || first === openBrace) {
    const end = containerEnd(bytes, at, spanBytes);
    if (end >= 0) return [parseSpan(bytes, at, end), end];
    return first === openBracket ? parseArray(bytes, at) : parseObject(bytes, at);
  }
  if (first === quote) {
    const end = stringEnd(bytes, at);
    return [parseSpan(bytes, at, end), end];
  }
  let end = at;
  while (end < bytes.length && !isDelimiter(bytes[end] as number)) end += 1;
  if (end === at) throw malformed(at);
  return [parseSpan(bytes, at, end), end];
}

function parseArray(bytes: Buffer, at: number): [unknown[], number] {
  const items: unknown[] = [];
  let position = skipSpace(bytes, at + 1);
  if (bytes[position] === closeBracket) return [items, position + 1];
  for (;;) {
    const [item, end] = parseValue(bytes, position);
    items.push(item);
    position = skipSpace(bytes, end);
    if (bytes[position] === closeBracket) return [items, position + 1];
    if (bytes[position] !== comma) throw malformed(position);
    position = skipSpace(bytes, position + 1);
  }
}

function parseObject(bytes: Buffer, at: number): [Record<string, unknown>, number] {
  const object: Record<string, unknown> = {};
  let position = skipSpace(bytes, at + 1);
  if (bytes[position] === closeBrace) return [object, position + 1];
  for (;;) {
    if (bytes[position] !== quote) throw malformed(position);
    const keyEnd = stringEnd(bytes, position);
    const key = parseSpan(bytes, position, keyEnd) as string;
    position = skipSpace(bytes, keyEnd);
    if (bytes[position] !== colon) throw malformed(position);
    const [value, end] = parseValue(bytes, skipSpace(bytes, position + 1));
    // As JSON.parse makes it: an own property, even one named __proto__; a repeated name keeps its place, last value.
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    position = skipSpace(bytes, end);
    if (bytes[position] === closeBrace) return [object, position + 1];
    if (bytes[position] !== comma) throw malformed(position);
    position = skipSpace(bytes, position + 1);
  }
}

function parseSpan(bytes: Buffer, start: number, end: number): unknown {
  return JSON.parse(bytes.toString("utf8", start, end));
}

/**
 * Just past the bracket or brace closing the one at `at`, if within `limit` bytes; -1 beyond. Strings are stepped
 * over (brackets in them do not count); bytes of multi-byte characters never equal these ASCII ones.
 */
function containerEnd(bytes: Buffer, at: number, limit: number): number {
  const last = Math.min(bytes.length, at + limit);
  let depth = 0;
  for (let position = at; position < last; position += 1) {
    const byte = bytes[position];
    if (byte === quote) {
      position = stringEnd(bytes, position) - 1;
      continue;
    }
    if (byte === openBracket || byte === openBrace) depth += 1;
    else if (byte === closeBracket || byte === closeBrace) {
      depth -= 1;
      if (depth === 0) return position + 1;
    }
  }
  return -1;
}

/** Just past the quote closing the string whose opening quote is at `at`. */
function stringEnd(bytes: Buffer, at: number): number {
  for (let position = at + 1; position < bytes.length; position += 1) {
    const byte = bytes[position];
    if (byte === backslash) position += 1;
    else if (byte === quote) return position + 1;
  }
  throw malformed(at);
}

function skipSpace(bytes: Buffer, at: number): number {
  let position = at;
  while (position < bytes.length && isSpace(bytes[position] as number)) position += 1;
  return position;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function isDelimiter(byte: number): boolean {
  return isSpace(byte) || byte === comma || byte === closeBracket || byte === closeBrace || byte === colon;
}

function malformed(at: number): SyntaxError {
  return new SyntaxError(`malformed JSON at byte ${at}`);
}
