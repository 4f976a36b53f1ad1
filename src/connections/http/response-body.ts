import { isUtf8 } from "node:buffer";
import { parseResponseBody } from "./http-request.ts";
import { parseJsonBytes } from "./json-bytes.ts";

/**
 * Larger JSON bodies are parsed from their bytes (json-bytes.ts) and decoded to text only if the text is read: V8
 * puts strings over 128 KiB in its large-object space, which only a full collection frees.
 */
export const largeBodyBytes = 128 * 1024;

export interface ReadBody {
  /** Parsed JSON when the response says it is JSON, otherwise the text (as `parseResponseBody`). */
  body: unknown;
  /** The body as text, decoded once, when first asked for. */
  text(): string;
  /** A large JSON body's bytes, for an audit that keeps only its start; undefined for any other body. */
  largeJson: Buffer | undefined;
}

/** An answer's body from the chunks it came in, as undici's `text()` decodes them (UTF-8, a leading BOM dropped). */
export function readBody(chunks: Buffer[], contentType: string | undefined): ReadBody {
  const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const bom = all.length > 2 && all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf;
  const bytes = bom ? all.subarray(3) : all;
  const json = contentType !== undefined && /[/+]json\b/i.test(contentType);
  if (json && bytes.length > largeBodyBytes && isUtf8(bytes)) {
    let decoded: string | undefined;
    const text = () => {
      decoded ??= bytes.toString("utf8");
      return decoded;
    };
    try {
      return { body: parseJsonBytes(bytes), text, largeJson: bytes };
    } catch {
      // Not JSON after all: the text, as parseResponseBody hands it over.
      return { body: text(), text, largeJson: undefined };
    }
  }
  // Decoded at once, and the bytes let go.
  return new DecodedBody(bytes.toString("utf8"), contentType);
}

/** A body decoded at once: a class rather than a closure per answer. */
class DecodedBody implements ReadBody {
  readonly body: unknown;
  readonly largeJson = undefined;
  readonly #text: string;

  constructor(text: string, contentType: string | undefined) {
    this.#text = text;
    this.body = parseResponseBody(text, contentType);
  }

  text(): string {
    return this.#text;
  }
}
