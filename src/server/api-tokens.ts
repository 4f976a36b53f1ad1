import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Bearer tokens for the API. Compared as SHA-256 digests with a constant-time
 * check, so neither the comparison time nor an early exit tells a caller how
 * much of a guess was right.
 */
export class ApiTokens {
  readonly #digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(digest);
  }

  get configured(): boolean {
    return this.#digests.length > 0;
  }

  /** Checks an `Authorization` header value. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) return false;
    const candidate = digest(match[1]);
    let ok = false;
    for (const known of this.#digests) ok = timingSafeEqual(known, candidate) || ok;
    return ok;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
